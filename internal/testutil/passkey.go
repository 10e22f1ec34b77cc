package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// SoftAuthenticator is a passkey authenticator in test code: one ECDSA
// P-256 key, attestation "none", assertions built and signed by hand as a
// browser and authenticator would. Origin and RP id are what it claims,
// so tests can play a phishing site or the other listener.
type SoftAuthenticator struct {
	key    *ecdsa.PrivateKey
	CredID []byte
	Handle []byte // the user handle stored at registration
	Count  uint32 // the signature counter it sends next
	// NoCounter makes it send 0 every time, as many platform passkeys do
	// (then only the challenge's single use stops a replay).
	NoCounter bool
	Origin    string
	RPID      string
}

// NewSoftAuthenticator makes an authenticator with a fresh key and
// credential id that claims origin and rpID.
func NewSoftAuthenticator(t testing.TB, origin, rpID string) *SoftAuthenticator {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	return &SoftAuthenticator{key: key, CredID: id, Count: 1, Origin: origin, RPID: rpID}
}

var b64 = base64.RawURLEncoding

// SiteOrigin and SiteRPID are the customer site's origin in tests (the
// account options of NewEnv) and the relying party id derived from it.
const (
	SiteOrigin = "http://localhost:8080"
	SiteRPID   = "localhost"
)

// ceremonyOptions is the part of the server's options an authenticator
// reads.
type ceremonyOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

func parseOptions(t testing.TB, raw json.RawMessage) ceremonyOptions {
	t.Helper()
	var o ceremonyOptions
	if err := json.Unmarshal(raw, &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("ceremony options %s: %v", raw, err)
	}
	return o
}

func (a *SoftAuthenticator) clientData(t testing.TB, typ, challenge string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// authData is the authenticator data: RP id hash, flags (user present and
// verified, plus attested credential data at registration), counter.
func (a *SoftAuthenticator) authData(t testing.TB, attested bool) []byte {
	t.Helper()
	h := sha256.Sum256([]byte(a.RPID))
	out := append([]byte{}, h[:]...)
	flags := byte(0x01 | 0x04) // UP | UV
	if attested {
		flags |= 0x40 // AT
	}
	out = append(out, flags)
	count := a.Count
	if a.NoCounter {
		count = 0
	}
	out = binary.BigEndian.AppendUint32(out, count)
	if attested {
		out = append(out, make([]byte, 16)...)                          // AAGUID: none
		out = binary.BigEndian.AppendUint16(out, uint16(len(a.CredID))) // #nosec G115 -- a 32-byte id
		out = append(out, a.CredID...)
		pub, err := a.key.PublicKey.ECDH()
		if err != nil {
			t.Fatal(err)
		}
		raw := pub.Bytes() // 0x04 | X | Y
		cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
			PublicKeyData: webauthncose.PublicKeyData{KeyType: 2, Algorithm: -7},
			Curve:         1, XCoord: raw[1:33], YCoord: raw[33:65],
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cose...)
	}
	return out
}

// create answers registration options with a new credential (the JSON of
// PublicKeyCredential), and advances the counter for the next use.
func (a *SoftAuthenticator) Create(t testing.TB, options json.RawMessage) json.RawMessage {
	t.Helper()
	o := parseOptions(t, options)
	handle, err := b64.DecodeString(o.PublicKey.User.ID)
	if err != nil || len(handle) == 0 {
		t.Fatalf("user handle %q: %v", o.PublicKey.User.ID, err)
	}
	a.Handle = handle
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(t, true)})
	if err != nil {
		t.Fatal(err)
	}
	a.advance()
	return a.credential(t, map[string]any{
		"clientDataJSON":    b64.EncodeToString(a.clientData(t, "webauthn.create", o.PublicKey.Challenge)),
		"attestationObject": b64.EncodeToString(att),
		"transports":        []string{"internal"},
	})
}

// get answers request options with a signed assertion, and advances the
// counter for the next one.
func (a *SoftAuthenticator) Get(t testing.TB, options json.RawMessage) json.RawMessage {
	t.Helper()
	o := parseOptions(t, options)
	cd := a.clientData(t, "webauthn.get", o.PublicKey.Challenge)
	ad := a.authData(t, false)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	a.advance()
	return a.credential(t, map[string]any{
		"clientDataJSON":    b64.EncodeToString(cd),
		"authenticatorData": b64.EncodeToString(ad),
		"signature":         b64.EncodeToString(sig),
		"userHandle":        b64.EncodeToString(a.Handle),
	})
}

func (a *SoftAuthenticator) advance() {
	if a.NoCounter {
		a.Count = 0
		return
	}
	a.Count++
}

func (a *SoftAuthenticator) credential(t testing.TB, response map[string]any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(a.CredID), "rawId": b64.EncodeToString(a.CredID), "type": "public-key",
		"response": response, "clientExtensionResults": map[string]any{}, "authenticatorAttachment": "platform",
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
