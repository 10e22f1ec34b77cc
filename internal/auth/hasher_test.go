package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/resguardo/resguardo"
)

// testPepper is a test double of the vault: real HMAC-SHA256 under numbered
// keys, one of them primary.
type testPepper struct {
	mu      sync.Mutex
	keys    map[uint32][]byte
	primary uint32
	withN   atomic.Int64 // calls of PepperMACWith
}

func newTestPepper(primary uint32, secret string) *testPepper {
	return &testPepper{keys: map[uint32][]byte{primary: []byte(secret)}, primary: primary}
}

// rotate adds a new primary key, keeping the old ones for PepperMACWith.
func (p *testPepper) rotate(id uint32, secret string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys[id] = []byte(secret)
	p.primary = id
}

func (p *testPepper) PepperMAC(password []byte) (uint32, []byte, error) {
	p.mu.Lock()
	id := p.primary
	p.mu.Unlock()
	mac, err := p.mac(id, password)
	return id, mac, err
}

func (p *testPepper) PepperMACWith(id uint32, password []byte) ([]byte, error) {
	p.withN.Add(1)
	return p.mac(id, password)
}

func (p *testPepper) mac(id uint32, password []byte) ([]byte, error) {
	p.mu.Lock()
	key, ok := p.keys[id]
	p.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no pepper key %d", id)
	}
	m := hmac.New(sha256.New, key)
	m.Write(password)
	return m.Sum(nil), nil
}

// fastParams are the smallest parameters NewHasher accepts, to keep tests
// that hash many times quick. Tests of the defaults use DefaultParams.
var fastParams = Params{Memory: minMemory, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// kdfCall records one call of the key derivation function.
type kdfCall struct {
	time, memory    uint32
	threads         uint8
	keyLen, saltLen uint32
}

// countKDF makes h record every argon2 call (still running the real argon2)
// and returns the record.
func countKDF(h *Hasher) func() []kdfCall {
	var mu sync.Mutex
	var calls []kdfCall
	h.kdf = func(password, salt []byte, t, m uint32, p uint8, keyLen uint32) []byte {
		mu.Lock()
		calls = append(calls, kdfCall{t, m, p, keyLen, uint32(len(salt))})
		mu.Unlock()
		return argon2.IDKey(password, salt, t, m, p, keyLen)
	}
	return func() []kdfCall {
		mu.Lock()
		defer mu.Unlock()
		return append([]kdfCall(nil), calls...)
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(DefaultParams, newTestPepper(7, "pepper-7"), 2)
	const pw = "correct horse battery staple"
	enc, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1,keyid=7\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !want.MatchString(enc) {
		t.Fatalf("Hash = %q, want PHC string matching %s", enc, want)
	}
	ok, rehash, err := h.Verify(ctx, pw, enc)
	if err != nil || !ok || rehash {
		t.Fatalf("Verify(right password) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	for _, wrong := range []string{"correct horse battery stapl", "Correct horse battery staple", "", pw + " "} {
		ok, rehash, err := h.Verify(ctx, wrong, enc)
		if err != nil || ok || rehash {
			t.Errorf("Verify(wrong password %q) = %v, %v, %v; want false, false, nil", wrong, ok, rehash, err)
		}
	}
}

func TestHashNormalizesToNFC(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(fastParams, newTestPepper(1, "k"), 1)
	composed, decomposed := "contrase\u00f1a muy larga", "contrasen\u0303a muy larga"
	enc, err := h.Hash(ctx, decomposed)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := h.Verify(ctx, composed, enc); err != nil || !ok {
		t.Fatalf("Verify(NFC form of the hashed NFD password) = %v, %v; want true", ok, err)
	}
}

func TestSaltUniquePerHash(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(fastParams, newTestPepper(1, "k"), 2)
	seenSalt, seenHash := map[string]bool{}, map[string]bool{}
	for range 5 {
		enc, err := h.Hash(ctx, "the same password every time")
		if err != nil {
			t.Fatal(err)
		}
		p, err := parsePHC(enc)
		if err != nil {
			t.Fatal(err)
		}
		if seenSalt[string(p.salt)] || seenHash[string(p.hash)] {
			t.Fatalf("salt or hash repeated in %q", enc)
		}
		seenSalt[string(p.salt)], seenHash[string(p.hash)] = true, true
	}
}

// TestPepperIsApplied checks the construction itself: the stored hash is
// argon2id(HMAC-SHA256(pepper, password), salt), and the same password under
// another pepper secret does not verify.
func TestPepperIsApplied(t *testing.T) {
	ctx := context.Background()
	const pw = "a long and unremarkable passphrase"
	h := NewHasher(fastParams, newTestPepper(1, "right pepper"), 1)
	enc, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := parsePHC(enc)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, []byte("right pepper"))
	m.Write([]byte(pw))
	want := argon2.IDKey(m.Sum(nil), p.salt, fastParams.Time, fastParams.Memory, fastParams.Threads, fastParams.KeyLen)
	if !hmac.Equal(p.hash, want) {
		t.Error("stored hash is not argon2id(HMAC(pepper, password), salt)")
	}
	if unpeppered := argon2.IDKey([]byte(pw), p.salt, fastParams.Time, fastParams.Memory, fastParams.Threads, fastParams.KeyLen); hmac.Equal(p.hash, unpeppered) {
		t.Error("stored hash is argon2id of the bare password: the pepper was not applied")
	}

	other := NewHasher(fastParams, newTestPepper(1, "wrong pepper"), 1) // same key id, other secret
	if ok, _, err := other.Verify(ctx, pw, enc); err != nil || ok {
		t.Fatalf("Verify under a different pepper = %v, %v; want false, nil", ok, err)
	}
}

func TestNeedsRehash(t *testing.T) {
	ctx := context.Background()
	pepper := newTestPepper(1, "k")
	const pw = "horses eat staples in october"
	enc, err := NewHasher(fastParams, pepper, 1).Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	grow := func(f func(*Params)) Params { p := fastParams; f(&p); return p }
	tests := []struct {
		name   string
		params Params
		want   bool
	}{
		{"same parameters", fastParams, false},
		{"memory grows", grow(func(p *Params) { p.Memory *= 2 }), true},
		{"time grows", grow(func(p *Params) { p.Time++ }), true},
		{"threads grow", grow(func(p *Params) { p.Threads++ }), true},
		{"key length grows", grow(func(p *Params) { p.KeyLen = 64 }), true},
		{"salt length grows", grow(func(p *Params) { p.SaltLen = 32 }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := NewHasher(tt.params, pepper, 1).Verify(ctx, pw, enc)
			if err != nil || !ok || rehash != tt.want {
				t.Fatalf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.want)
			}
		})
	}

	t.Run("configured parameters lower than stored", func(t *testing.T) {
		strong := grow(func(p *Params) { p.Time = 2; p.Memory = 2 * minMemory })
		enc, err := NewHasher(strong, pepper, 1).Hash(ctx, pw)
		if err != nil {
			t.Fatal(err)
		}
		if ok, rehash, err := NewHasher(fastParams, pepper, 1).Verify(ctx, pw, enc); err != nil || !ok || rehash {
			t.Fatalf("Verify = %v, %v, %v; want true, false, nil (never downgrade)", ok, rehash, err)
		}
	})
	t.Run("key length shrinks", func(t *testing.T) {
		long := grow(func(p *Params) { p.KeyLen = 64 })
		enc, err := NewHasher(long, pepper, 1).Hash(ctx, pw)
		if err != nil {
			t.Fatal(err)
		}
		if ok, rehash, err := NewHasher(fastParams, pepper, 1).Verify(ctx, pw, enc); err != nil || !ok || !rehash {
			t.Fatalf("Verify = %v, %v, %v; want true, true, nil (key length differs)", ok, rehash, err)
		}
	})
	t.Run("no rehash on a wrong password", func(t *testing.T) {
		big := grow(func(p *Params) { p.Time++ })
		if ok, rehash, err := NewHasher(big, pepper, 1).Verify(ctx, "not the password at all", enc); err != nil || ok || rehash {
			t.Fatalf("Verify = %v, %v, %v; want false, false, nil", ok, rehash, err)
		}
	})
}

func TestPepperRotation(t *testing.T) {
	ctx := context.Background()
	pepper := newTestPepper(1, "old key")
	h := NewHasher(fastParams, pepper, 1)
	const pw = "rotate the pepper not the password"
	old, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(old, ",keyid=1$") {
		t.Fatalf("Hash = %q, want keyid=1", old)
	}
	if ok, rehash, err := h.Verify(ctx, pw, old); err != nil || !ok || rehash {
		t.Fatalf("before rotation: Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	if n := pepper.withN.Load(); n != 0 {
		t.Errorf("PepperMACWith called %d times for a hash under the primary key; want 0", n)
	}

	pepper.rotate(2, "new key")
	ok, rehash, err := h.Verify(ctx, pw, old)
	if err != nil || !ok || !rehash {
		t.Fatalf("after rotation: Verify(old hash) = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	if n := pepper.withN.Load(); n != 1 {
		t.Errorf("PepperMACWith called %d times; want 1 (the old key)", n)
	}
	if ok, _, err := h.Verify(ctx, "some other password", old); err != nil || ok {
		t.Errorf("after rotation: Verify(wrong password, old hash) = %v, %v; want false, nil", ok, err)
	}

	fresh, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fresh, ",keyid=2$") {
		t.Fatalf("Hash after rotation = %q, want keyid=2", fresh)
	}
	if ok, rehash, err := h.Verify(ctx, pw, fresh); err != nil || !ok || rehash {
		t.Fatalf("Verify(rehashed) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestVerifyUnknownPepperKeyIsError(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(fastParams, newTestPepper(1, "k"), 1)
	enc, err := h.Hash(ctx, "a password under key one")
	if err != nil {
		t.Fatal(err)
	}
	enc = strings.Replace(enc, ",keyid=1$", ",keyid=9$", 1)
	if ok, _, err := h.Verify(ctx, "a password under key one", enc); err == nil || ok {
		t.Fatalf("Verify with an unknown pepper key = %v, %v; want false and an error", ok, err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(fastParams, newTestPepper(1, "k"), 1)
	const pw = "a perfectly fine password"
	good, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(good, "$") // "", alg, v, params, salt, hash
	salt, hash := f[4], f[5]
	join := func(parts ...string) string { return strings.Join(parts, "$") }
	tests := []struct{ name, enc string }{
		{"empty", ""},
		{"bcrypt", "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"},
		{"no leading dollar", strings.TrimPrefix(good, "$")},
		{"trailing dollar", good + "$"},
		{"extra field", join(good, "AAAA")},
		{"missing hash", join("", "argon2id", "v=19", f[3], salt)},
		{"argon2i", join("", "argon2i", f[2], f[3], salt, hash)},
		{"argon2d", join("", "argon2d", f[2], f[3], salt, hash)},
		{"algorithm upper case", join("", "ARGON2ID", f[2], f[3], salt, hash)},
		{"version 16", join("", "argon2id", "v=16", f[3], salt, hash)},
		{"version missing", join("", "argon2id", f[3], salt, hash)},
		{"parameters reordered", join("", "argon2id", f[2], "t=1,m=8192,p=1,keyid=1", salt, hash)},
		{"keyid missing", join("", "argon2id", f[2], "m=8192,t=1,p=1", salt, hash)},
		{"extra parameter", join("", "argon2id", f[2], "m=8192,t=1,p=1,keyid=1,data=AA", salt, hash)},
		{"empty parameter", join("", "argon2id", f[2], "m=,t=1,p=1,keyid=1", salt, hash)},
		{"leading zero", join("", "argon2id", f[2], "m=08192,t=1,p=1,keyid=1", salt, hash)},
		{"plus sign", join("", "argon2id", f[2], "m=+8192,t=1,p=1,keyid=1", salt, hash)},
		{"space", join("", "argon2id", f[2], "m=8192, t=1,p=1,keyid=1", salt, hash)},
		{"hex", join("", "argon2id", f[2], "m=0x2000,t=1,p=1,keyid=1", salt, hash)},
		{"keyid overflows uint32", join("", "argon2id", f[2], "m=8192,t=1,p=1,keyid=4294967296", salt, hash)},
		{"memory too small", join("", "argon2id", f[2], "m=64,t=1,p=1,keyid=1", salt, hash)},
		{"memory too large", join("", "argon2id", f[2], "m=4194304,t=1,p=1,keyid=1", salt, hash)},
		{"time zero", join("", "argon2id", f[2], "m=8192,t=0,p=1,keyid=1", salt, hash)},
		{"time too large", join("", "argon2id", f[2], "m=8192,t=1000,p=1,keyid=1", salt, hash)},
		{"threads zero", join("", "argon2id", f[2], "m=8192,t=1,p=0,keyid=1", salt, hash)},
		{"threads too many", join("", "argon2id", f[2], "m=8192,t=1,p=256,keyid=1", salt, hash)},
		{"padded salt", join("", "argon2id", f[2], f[3], salt+"==", hash)},
		{"padded hash", join("", "argon2id", f[2], f[3], salt, hash+"=")},
		{"url-safe alphabet", join("", "argon2id", f[2], f[3], "_"+strings.Repeat("A", 21), hash)},
		// 16 bytes end in a character carrying 2 bits: only A, Q, g, w are canonical.
		{"non-canonical base64 (trailing bits)", join("", "argon2id", f[2], f[3], salt[:len(salt)-1]+"B", hash)},
		{"empty salt", join("", "argon2id", f[2], f[3], "", hash)},
		{"salt too short", join("", "argon2id", f[2], f[3], "c2FsdHNhbHQ", hash)},
		{"hash too short", join("", "argon2id", f[2], f[3], salt, "aGFzaA")},
		{"hash too long", join("", "argon2id", f[2], f[3], salt, strings.Repeat("A", 88))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, pw, tt.enc)
			if !errors.Is(err, errMalformed) || ok || rehash {
				t.Fatalf("Verify(%q) = %v, %v, %v; want false, false, malformed error", tt.enc, ok, rehash, err)
			}
			if strings.Contains(err.Error(), salt) || strings.Contains(err.Error(), hash) {
				t.Errorf("error %q echoes the stored hash", err)
			}
		})
	}
}

func TestPHCCanonicalRoundTrip(t *testing.T) {
	const enc = "$argon2id$v=19$m=19456,t=2,p=1,keyid=4294967295$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	p, err := parsePHC(enc)
	if err != nil {
		t.Fatal(err)
	}
	if p.params.Memory != 19456 || p.params.Time != 2 || p.params.Threads != 1 || p.keyID != 4294967295 ||
		string(p.salt) != "somesaltsomesalt" || string(p.hash) != "hashhashhashhashhashhashhashhash" {
		t.Fatalf("parsePHC = %+v", p)
	}
	if got := p.String(); got != enc {
		t.Fatalf("String() = %q, want %q", got, enc)
	}
}

func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1,keyid=7$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	f.Add("$argon2id$v=19$m=08192,t=1,p=1,keyid=1$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePHC(s)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if got := p.String(); got != s {
			t.Fatalf("accepted a non-canonical form: %q re-encodes as %q", s, got)
		}
	})
}

func TestBusy(t *testing.T) {
	const pw = "waiting for a free slot"
	newHeld := func(t *testing.T) (*Hasher, string) {
		t.Helper()
		h := NewHasher(fastParams, newTestPepper(1, "k"), 1)
		enc, err := h.Hash(context.Background(), pw)
		if err != nil {
			t.Fatal(err)
		}
		h.sem <- struct{}{} // hold the only slot
		t.Cleanup(h.release)
		return h, enc
	}
	assertBusy := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("err = %v, want ErrBusy", err)
		}
		if code := resguardo.ErrorCode(err); code != resguardo.EUnavailable {
			t.Fatalf("ErrorCode = %q, want %q", code, resguardo.EUnavailable)
		}
	}
	short := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}

	t.Run("Hash with a short context", func(t *testing.T) {
		h, _ := newHeld(t)
		_, err := h.Hash(short(t), pw)
		assertBusy(t, err)
	})
	t.Run("Verify with a short context", func(t *testing.T) {
		h, enc := newHeld(t)
		ok, _, err := h.Verify(short(t), pw, enc)
		assertBusy(t, err)
		if ok {
			t.Fatal("ok = true with ErrBusy")
		}
	})
	t.Run("DummyVerify with a short context", func(t *testing.T) {
		h, _ := newHeld(t)
		assertBusy(t, h.DummyVerify(short(t), pw))
	})
	t.Run("wait bounded without a deadline", func(t *testing.T) {
		h, _ := newHeld(t)
		h.maxWait = 20 * time.Millisecond
		_, err := h.Hash(context.Background(), pw)
		assertBusy(t, err)
	})
	t.Run("cancelled context does not hash even with a free slot", func(t *testing.T) {
		h := NewHasher(fastParams, newTestPepper(1, "k"), 1)
		calls := countKDF(h)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := h.Hash(ctx, pw)
		assertBusy(t, err)
		if n := len(calls()); n != 0 {
			t.Fatalf("argon2 ran %d times for a cancelled request", n)
		}
	})
	t.Run("waiter gets the slot when it is released", func(t *testing.T) {
		h := NewHasher(fastParams, newTestPepper(1, "k"), 1)
		h.sem <- struct{}{}
		done := make(chan error, 1)
		go func() {
			_, err := h.Hash(context.Background(), pw)
			done <- err
		}()
		time.Sleep(10 * time.Millisecond) // let it queue; the outcome does not depend on it
		h.release()
		if err := <-done; err != nil {
			t.Fatalf("Hash after release: %v", err)
		}
	})
}

func TestConcurrencyBounded(t *testing.T) {
	const limit = 2
	h := NewHasher(fastParams, newTestPepper(1, "k"), limit)
	var running, peak atomic.Int32
	h.kdf = func(password, salt []byte, t, m uint32, p uint8, keyLen uint32) []byte {
		n := running.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		defer running.Add(-1)
		time.Sleep(5 * time.Millisecond) // widen the window in which overlap would show
		return argon2.IDKey(password, salt, t, m, p, keyLen)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			if _, err := h.Hash(context.Background(), fmt.Sprintf("password number %d here", i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p := peak.Load(); p > limit || p < 1 {
		t.Fatalf("peak concurrent argon2 = %d, want 1..%d", p, limit)
	}
}

func TestDefaultMaxConcurrent(t *testing.T) {
	h := NewHasher(fastParams, newTestPepper(1, "k"), 0)
	if got, want := cap(h.sem), runtime.GOMAXPROCS(0); got != want {
		t.Fatalf("slots = %d, want GOMAXPROCS = %d", got, want)
	}
}

// TestDummyVerifyDoesVerifyWork checks that DummyVerify runs the same argon2
// as a real Verify, through the same slot, with the configured parameters.
func TestDummyVerifyDoesVerifyWork(t *testing.T) {
	ctx := context.Background()
	pepper := newTestPepper(1, "k")
	h := NewHasher(DefaultParams, pepper, 1)
	enc, err := h.Hash(ctx, "the real password of a real user")
	if err != nil {
		t.Fatal(err)
	}
	calls := countKDF(h)
	if _, _, err := h.Verify(ctx, "a wrong password for a real user", enc); err != nil {
		t.Fatal(err)
	}
	if err := h.DummyVerify(ctx, "a wrong password for nobody"); err != nil {
		t.Fatal(err)
	}
	got := calls()
	if len(got) != 2 {
		t.Fatalf("argon2 calls = %d, want 1 for Verify and 1 for DummyVerify", len(got))
	}
	want := kdfCall{DefaultParams.Time, DefaultParams.Memory, DefaultParams.Threads, DefaultParams.KeyLen, DefaultParams.SaltLen}
	if got[0] != want || got[1] != want {
		t.Fatalf("argon2 calls = %+v, want both %+v", got, want)
	}
	if n := pepper.withN.Load(); n != 0 {
		t.Fatalf("DummyVerify used PepperMACWith %d times; Verify of a current hash does not", n)
	}
}

func TestNewHasherRejectsBadConfig(t *testing.T) {
	bad := map[string]Params{
		"zero":           {},
		"memory too low": {Memory: 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32},
		"time zero":      {Memory: 19456, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		"threads zero":   {Memory: 19456, Time: 2, Threads: 0, SaltLen: 16, KeyLen: 32},
		"short salt":     {Memory: 19456, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 32},
		"short key":      {Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 8},
	}
	for name, p := range bad {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("NewHasher did not panic")
				}
			}()
			NewHasher(p, newTestPepper(1, "k"), 1)
		})
	}
	t.Run("nil pepper", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("NewHasher did not panic")
			}
		}()
		NewHasher(DefaultParams, nil, 1)
	})
}

func TestDefaultParamsAtLeastOWASP(t *testing.T) {
	p := DefaultParams
	// OWASP's argon2id minimum: m=19 MiB, t=2, p=1 (or an equivalent trade).
	if p.Memory < 19456 || p.Time < 2 || p.Threads < 1 || p.SaltLen < 16 || p.KeyLen < 32 {
		t.Fatalf("DefaultParams = %+v, below m=19456 t=2 p=1 salt=16 key=32", p)
	}
	if h := NewHasher(p, newTestPepper(1, "k"), 1); h.Params() != p {
		t.Fatalf("Params() = %+v, want %+v", h.Params(), p)
	}
}

// BenchmarkArgon2idBare is the bare hash rate at DefaultParams, the reference
// for docs/contract.md §12's sign-in target (≥ 95 % of it).
func BenchmarkArgon2idBare(b *testing.B) {
	p := DefaultParams
	pw, salt := []byte("0123456789abcdef0123456789abcdef"), randomBytes(p.SaltLen)
	b.ReportAllocs()
	for b.Loop() {
		argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	}
}

// BenchmarkHasherVerify is a full Verify (parse, NFC, HMAC pepper, slot,
// argon2id, compare) at DefaultParams.
func BenchmarkHasherVerify(b *testing.B) {
	ctx := context.Background()
	h := NewHasher(DefaultParams, newTestPepper(1, "k"), 1)
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, "correct horse battery staple", enc); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// The parallel variants measure throughput with every core busy, which is
// what a sign-in flood looks like; Hasher has GOMAXPROCS slots.
func BenchmarkArgon2idBareParallel(b *testing.B) {
	p := DefaultParams
	pw, salt := []byte("0123456789abcdef0123456789abcdef"), randomBytes(p.SaltLen)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
		}
	})
}

func BenchmarkHasherVerifyParallel(b *testing.B) {
	ctx := context.Background()
	h := NewHasher(DefaultParams, newTestPepper(1, "k"), 0)
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, err := h.Verify(ctx, "correct horse battery staple", enc); err != nil || !ok {
				b.Error(ok, err)
				return
			}
		}
	})
}

// ReturnMemory frees only after hashes have finished since it last looked,
// and never while a hash holds its matrix: at most one forced collection
// per burst of sign-ins, none while the server is idle or busy hashing.
func TestReturnMemoryAfterABurstOnly(t *testing.T) {
	h := NewHasher(fastParams, newTestPepper(1, "k"), 2)
	freed := 0
	free := func() { freed++ }
	if h.ReturnMemory(free) || freed != 0 {
		t.Fatal("freed with no hash since start")
	}
	for range 3 {
		if _, err := h.Hash(context.Background(), "a long enough password"); err != nil {
			t.Fatal(err)
		}
	}
	h.sem <- struct{}{} // a hash running now
	if h.ReturnMemory(free) || freed != 0 {
		t.Fatal("freed while a hash was running")
	}
	h.release()
	if !h.ReturnMemory(free) || freed != 1 {
		t.Fatalf("not freed after a burst: %d", freed)
	}
	if h.ReturnMemory(free) || freed != 1 {
		t.Fatal("freed again with no new hash")
	}
}
