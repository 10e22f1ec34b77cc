package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"testing"
)

func TestNewToken(t *testing.T) {
	shape := regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	seen := make(map[string]bool)
	for range 1000 {
		tok, hash := NewToken()
		if !shape.MatchString(tok) {
			t.Fatalf("token %q is not 43 characters of unpadded base64url", tok)
		}
		raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token decodes to %d bytes, %v; want 32", len(raw), err)
		}
		sum := sha256.Sum256([]byte(tok))
		if !bytes.Equal(hash, sum[:]) {
			t.Fatal("hash is not SHA-256 of the token")
		}
		if !bytes.Equal(TokenHash(tok), hash) {
			t.Fatal("TokenHash(token) differs from the hash NewToken returned")
		}
		if seen[tok] {
			t.Fatalf("token %q repeated", tok)
		}
		seen[tok] = true
	}
}

func TestTokenHash(t *testing.T) {
	// SHA-256("abc"), FIPS 180-2 example.
	want := []byte{
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
		0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	}
	if got := TokenHash("abc"); !bytes.Equal(got, want) {
		t.Fatalf("TokenHash(abc) = %x, want %x", got, want)
	}
	if bytes.Equal(TokenHash("a"), TokenHash("b")) {
		t.Fatal("different tokens, same hash")
	}
}
