package auth

import (
	"crypto/sha256"
	"encoding/base64"
)

// TokenBytes is the entropy of a token: 256 bits.
const TokenBytes = 32

// NewToken returns a random 256-bit secret from crypto/rand, encoded as
// unpadded base64url (43 characters), and its TokenHash. Give the token to
// the client once; store only the hash.
func NewToken() (token string, hash []byte) {
	token = base64.RawURLEncoding.EncodeToString(randomBytes(TokenBytes))
	return token, TokenHash(token)
}

// TokenHash is what the database keeps for a token: the SHA-256 of its
// encoded form. A plain hash suffices because the token has 256 bits of
// entropy (no guessing, so no salt or slow hash), and looking it up needs no
// decoding, so a malformed token simply finds nothing.
func TokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
