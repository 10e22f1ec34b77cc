// Package auth holds the credential primitives: password hashing (argon2id over
// a peppered password, PHC strings, bounded concurrency), the password policy
// with its list of common passwords, and random bearer tokens stored as hashes.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/metrics"
)

// Pepperer is implemented by the vault: HMAC of the password under the primary
// pepper key (returning that key's id), or under a given older key id. The
// pepper keys live outside the database, so a stolen database alone cannot be
// attacked offline.
type Pepperer interface {
	PepperMAC(password []byte) (keyID uint32, mac []byte, err error)
	PepperMACWith(keyID uint32, password []byte) ([]byte, error)
}

// Params are argon2id parameters. Memory is in KiB.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are argon2id m=19 MiB, t=2, p=1: OWASP's first recommended
// argon2id configuration (Password Storage Cheat Sheet), with a 128-bit salt
// and a 256-bit hash.
//
// Why not more memory: memory is what makes argon2id expensive on GPUs, but
// on the target machine (2 cores, RSS ≤ 300 MB under a 200-connection login
// flood, docs/contract.md §12) it is also what a flood consumes. Hashing is CPU-bound, so
// more than a few hashes at once adds no throughput on 2 cores: the Hasher runs
// at most maxConcurrent (default GOMAXPROCS) at once and queues the rest. Each
// running hash holds Memory KiB, and Go's collector lets the heap grow to about
// twice the live data before collecting, so the peak is roughly
// 2 × maxConcurrent × Memory: 2 × 2 × 19 MiB ≈ 76 MiB here, and ≈ 152 MiB even
// with maxConcurrent = 4, leaving room for the rest of the server. OWASP's
// equivalent m=46 MiB, t=1 would already reach ≈ 184 MiB at 2 slots and
// ≈ 368 MiB at 4 (over the ceiling); RFC 9106's 64 MiB, t=3, p=4 would be
// worse still and also three times slower per sign-in.
//
// Why p=1: lanes only help when one hash may use several cores; under load
// the cores are already shared between concurrent sign-ins, and p=1 keeps
// one hash on one goroutine.
//
// Raising Memory or Time later is safe: Verify reports needsRehash for hashes
// made with weaker parameters and the caller re-hashes on the next sign-in.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds for both the configured parameters and those read from a stored
// hash. A stored hash is trusted data, but a corrupted or planted row must not
// be able to make one verification allocate gigabytes or run for minutes.
const (
	minMemory  = 8 * 1024 // 8 MiB; below this argon2id is weak
	maxMemory  = 1 << 20  // 1 GiB
	minTime    = 1
	maxTime    = 16
	maxThreads = 16
	minSaltLen = 16 // RFC 9106 recommends 128 bits
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
)

// defaultMaxWait bounds how long a caller queues for a hashing slot.
const defaultMaxWait = 2 * time.Second

// ErrBusy is returned when no hashing slot became free in time (or the
// caller's context ended while waiting). The server answers it with 503; the
// client may retry.
var ErrBusy error = &resguardo.Error{
	Code:    resguardo.EUnavailable,
	Message: "The server is busy. Please try again in a moment.",
}

// errMalformed is wrapped by every error about an unparsable stored hash.
var errMalformed = errors.New("auth: malformed password hash")

// kdfFunc has the signature of argon2.IDKey.
type kdfFunc func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte

// Hasher hashes and verifies passwords with argon2id over the peppered
// password, argon2id(HMAC_pepper(NFC(password)), salt), encoded as PHC strings
//
//	$argon2id$v=19$m=19456,t=2,p=1,keyid=<pepper key id>$<salt>$<hash>
//
// with salt and hash in unpadded standard base64, as the PHC format does.
// keyid is the vault's pepper key id in decimal. (The PHC argon2 definition
// has a base64 "keyid" for argon2's own secret input; we do not use that
// input: the pepper is applied by HMAC before argon2, so these hashes are
// not meant to be read by other argon2 libraries anyway.)
//
// At most maxConcurrent argon2 computations run at once; a caller waits for a
// slot up to 2 s or until its context ends, and then gets ErrBusy, so that a
// flood of sign-ins queues or is refused instead of exhausting memory.
// A Hasher is safe for concurrent use.
type Hasher struct {
	params  Params
	pepper  Pepperer
	sem     chan struct{}
	maxWait time.Duration
	kdf     kdfFunc // argon2.IDKey; replaced in tests to count or block calls

	// hashes counts finished hashes; lastHashes is its value when
	// ReturnMemory last looked (see ReturnMemory).
	hashes, lastHashes atomic.Uint64

	// A stored hash for DummyVerify: random, so that no password matches it.
	dummy phc
}

// NewHasher returns a Hasher with parameters p, peppering with pepper, and
// running at most maxConcurrent hashes at once; maxConcurrent <= 0 means
// runtime.GOMAXPROCS(0), which is the right value for CPU-bound work.
// It panics if p is outside sane bounds (m 8 MiB–1 GiB, t 1–16, p 1–16,
// salt 16–64 bytes, key 16–64 bytes) or pepper is nil: both are programming
// or configuration errors that must stop the server at start.
func NewHasher(p Params, pepper Pepperer, maxConcurrent int) *Hasher {
	if err := checkParams(p); err != nil {
		panic("auth.NewHasher: " + err.Error())
	}
	if pepper == nil {
		panic("auth.NewHasher: nil Pepperer")
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{
		params:  p,
		pepper:  pepper,
		sem:     make(chan struct{}, maxConcurrent),
		maxWait: defaultMaxWait,
		kdf:     argon2.IDKey,
		dummy: phc{
			params: p,
			salt:   randomBytes(p.SaltLen),
			hash:   randomBytes(p.KeyLen),
		},
	}
	return h
}

// Params returns the configured parameters.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC string for password under the configured parameters,
// a fresh random salt and the primary pepper key. The password is NFC-
// normalised first, as CheckPassword counts it. It returns ErrBusy when no
// hashing slot is free in time.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	pw := []byte(norm.NFC.String(password))
	keyID, mac, err := h.pepper.PepperMAC(pw)
	clear(pw)
	if err != nil {
		return "", fmt.Errorf("auth: pepper: %w", err)
	}
	defer clear(mac)
	salt := randomBytes(h.params.SaltLen)
	key, err := h.derive(ctx, mac, salt, h.params)
	if err != nil {
		return "", err
	}
	return phc{params: h.params, keyID: keyID, salt: salt, hash: key}.String(), nil
}

// Verify reports whether password matches encoded, comparing in constant time.
// needsRehash (meaningful only when ok) is true when the stored parameters
// are weaker than the configured ones (m, t or p lower, salt shorter, or key
// length different) or the stored pepper key id is not the current primary;
// the caller should then store a fresh Hash. A hash made under an older pepper
// key still verifies, through PepperMACWith. A malformed encoded hash is an
// error, not a mismatch. It returns ErrBusy when no slot is free in time.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	stored, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	pw := []byte(norm.NFC.String(password))
	defer clear(pw)
	primary, mac, err := h.pepper.PepperMAC(pw)
	if err != nil {
		return false, false, fmt.Errorf("auth: pepper: %w", err)
	}
	if stored.keyID != primary {
		clear(mac)
		mac, err = h.pepper.PepperMACWith(stored.keyID, pw)
		if err != nil {
			return false, false, fmt.Errorf("auth: pepper key %d: %w", stored.keyID, err)
		}
	}
	defer clear(mac)
	ok, err = h.compare(ctx, mac, stored)
	if err != nil || !ok {
		return false, false, err
	}
	return true, h.weaker(stored, primary), nil
}

// DummyVerify does the work of a Verify with the configured parameters (the
// primary pepper HMAC, a wait for a slot, one argon2id, a constant-time
// compare) against a random hash that nothing matches. Call it when the
// e-mail is unknown so that both sign-in failures cost the same time and
// answer the same. It returns what Verify would return in the same situation
// apart from the mismatch: nil, ErrBusy when no slot is free in time (answer
// it as you would answer Verify's ErrBusy, or the 503 reveals which e-mails
// exist), or a pepper error.
func (h *Hasher) DummyVerify(ctx context.Context, password string) error {
	pw := []byte(norm.NFC.String(password))
	defer clear(pw)
	primary, mac, err := h.pepper.PepperMAC(pw)
	if err != nil {
		return fmt.Errorf("auth: pepper: %w", err)
	}
	defer clear(mac)
	dummy := h.dummy
	dummy.keyID = primary
	_, err = h.compare(ctx, mac, dummy)
	return err
}

// compare derives the key for mac under stored's parameters and salt and
// compares it with the stored hash in constant time.
func (h *Hasher) compare(ctx context.Context, mac []byte, stored phc) (bool, error) {
	key, err := h.derive(ctx, mac, stored.salt, stored.params)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(key, stored.hash) == 1, nil
}

// derive runs argon2id in a slot: the only place that calls the KDF.
func (h *Hasher) derive(ctx context.Context, mac, salt []byte, p Params) ([]byte, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer h.release()
	defer h.hashes.Add(1)
	return h.kdf(mac, salt, p.Time, p.Memory, p.Threads, p.KeyLen), nil
}

// ReturnMemory gives the memory of finished hashes back to the operating
// system, by calling free (debug.FreeOSMemory in the server), when hashes
// have finished since the last call and none is running now. Each argon2id
// hash allocates its whole matrix (19 MiB at the default parameters) and
// drops it; Go's scavenger returns such memory slowly, so after a burst of
// sign-ins the process would otherwise stay tens of MiB larger for
// minutes. It reports whether it called free. The server calls it every few
// seconds: at most one forced collection per call, none while idle.
func (h *Hasher) ReturnMemory(free func()) bool {
	n := h.hashes.Load()
	if n == h.lastHashes.Load() || len(h.sem) > 0 {
		return false
	}
	h.lastHashes.Store(n)
	free()
	return true
}

// acquire takes a hashing slot, waiting at most h.maxWait or until ctx ends.
// Waiters are served in arrival order (Go queues blocked channel senders
// first in, first out).
func (h *Hasher) acquire(ctx context.Context) error {
	if ctx.Err() != nil {
		return ErrBusy // the caller has gone; do not start a hash for nobody
	}
	select {
	case h.sem <- struct{}{}:
		metrics.HashNoWait()
		return nil
	default:
	}
	done := metrics.HashQueued()
	t := time.NewTimer(h.maxWait)
	defer t.Stop()
	select {
	case h.sem <- struct{}{}:
		done(false)
		return nil
	case <-ctx.Done():
		done(true)
		return ErrBusy
	case <-t.C:
		done(true)
		return ErrBusy
	}
}

func (h *Hasher) release() { <-h.sem }

// Saturate takes every hashing slot, waiting for those in use to free, and
// holds them until release is called: the state a sign-in flood puts the
// hasher in, reproduced on demand, so that what callers do when a hash
// answers ErrBusy can be checked against the real service. release must be
// called exactly once.
func (h *Hasher) Saturate() (release func()) {
	for range cap(h.sem) {
		h.sem <- struct{}{}
	}
	return func() {
		for range cap(h.sem) {
			h.release()
		}
	}
}

// weaker reports whether a stored hash should be replaced by a fresh Hash.
func (h *Hasher) weaker(stored phc, primary uint32) bool {
	s, c := stored.params, h.params
	return s.Memory < c.Memory || s.Time < c.Time || s.Threads < c.Threads ||
		s.SaltLen < c.SaltLen || s.KeyLen != c.KeyLen || stored.keyID != primary
}

func checkParams(p Params) error {
	switch {
	case p.Memory < minMemory || p.Memory > maxMemory:
		return fmt.Errorf("memory %d KiB outside [%d, %d]", p.Memory, minMemory, maxMemory)
	case p.Time < minTime || p.Time > maxTime:
		return fmt.Errorf("time %d outside [%d, %d]", p.Time, minTime, maxTime)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("threads %d outside [1, %d]", p.Threads, maxThreads)
	case p.Memory < 8*uint32(p.Threads):
		return fmt.Errorf("memory %d KiB below 8 KiB per thread", p.Memory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length %d outside [%d, %d]", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("key length %d outside [%d, %d]", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

func randomBytes(n uint32) []byte {
	b := make([]byte, n)
	// crypto/rand.Read never fails on supported platforms (it crashes the
	// program instead); the check is for the linters and for the future.
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand: " + err.Error())
	}
	return b
}

// phc is a parsed argon2id PHC string; params.SaltLen and params.KeyLen are
// the lengths of salt and hash.
type phc struct {
	params     Params
	keyID      uint32
	salt, hash []byte
}

var b64 = base64.RawStdEncoding.Strict()

func (s phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d,keyid=%d$%s$%s",
		argon2.Version, s.params.Memory, s.params.Time, s.params.Threads, s.keyID,
		b64.EncodeToString(s.salt), b64.EncodeToString(s.hash))
}

// parsePHC parses exactly the form phc.String writes: algorithm argon2id,
// version 19, the parameters m, t, p, keyid in that order as canonical
// decimal numbers, and unpadded canonical base64 salt and hash, all within
// the bounds above. Anything else is an error wrapping errMalformed; the
// error never contains the input.
func parsePHC(s string) (phc, error) {
	var out phc
	fail := func(what string) (phc, error) {
		return phc{}, fmt.Errorf("%w: %s", errMalformed, what)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return fail("not a $-separated PHC string with 5 fields")
	}
	if parts[1] != "argon2id" {
		return fail("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("version is not 19")
	}
	kv := strings.Split(parts[3], ",")
	names := [...]string{"m", "t", "p", "keyid"}
	if len(kv) != len(names) {
		return fail("parameters are not m,t,p,keyid")
	}
	var vals [len(names)]uint32
	for i, name := range names {
		v, ok := strings.CutPrefix(kv[i], name+"=")
		if !ok {
			return fail("parameters are not m,t,p,keyid")
		}
		n, ok := parseDecimal(v)
		if !ok {
			return fail("parameter " + name + " is not a canonical decimal number")
		}
		vals[i] = n
	}
	m, t, p, keyID := vals[0], vals[1], vals[2], vals[3]
	if p > maxThreads {
		return fail("parameter p out of bounds")
	}
	var err error
	if out.salt, err = b64.DecodeString(parts[4]); err != nil {
		return fail("salt is not unpadded base64")
	}
	if out.hash, err = b64.DecodeString(parts[5]); err != nil {
		return fail("hash is not unpadded base64")
	}
	saltLen, keyLen := len(out.salt), len(out.hash)
	if saltLen > maxSaltLen || keyLen > maxKeyLen {
		return fail("salt or hash too long")
	}
	out.params = Params{Memory: m, Time: t, Threads: uint8(p), SaltLen: uint32(saltLen), KeyLen: uint32(keyLen)}
	out.keyID = keyID
	if err := checkParams(out.params); err != nil {
		return fail(err.Error())
	}
	return out, nil
}

// parseDecimal accepts only canonical unsigned decimal numbers that fit in
// uint32: no sign, no leading zeros, no spaces, no underscores.
func parseDecimal(s string) (uint32, bool) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(n), true
}

// PepperKeyID returns the pepper key id recorded in a stored hash, so that
// an operator can tell when no hash uses an old pepper key any more.
func PepperKeyID(encoded string) (uint32, error) {
	p, err := parsePHC(encoded)
	return p.keyID, err
}
