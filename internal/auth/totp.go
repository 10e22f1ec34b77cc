package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP follows RFC 6238 with what authenticator apps expect: SHA-1, six
// digits, 30-second steps, a 160-bit secret.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
)

// TOTPEnrolment is a new secret with its otpauth:// URI and the URI as a
// QR code (PNG), for the customer's authenticator app.
type TOTPEnrolment struct {
	Secret string
	URI    string
	QRPNG  []byte
}

// NewTOTP makes a fresh secret for account at issuer.
func NewTOTP(issuer, accountName string) (TOTPEnrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: accountName, Period: totpPeriod,
		SecretSize: 20, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("totp secret: %w", err)
	}
	qr, err := QRPNG(key.URL())
	if err != nil {
		return TOTPEnrolment{}, err
	}
	return TOTPEnrolment{Secret: key.Secret(), URI: key.URL(), QRPNG: qr}, nil
}

// TOTPStep checks code against secret at now, allowing one step of clock
// skew either way, and returns the time step it matched. A step at or
// before lastStep is refused: a code, once accepted, cannot be replayed
// within its window.
func TOTPStep(secret, code string, now time.Time, lastStep int64) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, false
	}
	current := now.Unix() / totpPeriod
	for _, step := range []int64{current - 1, current, current + 1} {
		if step <= lastStep {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totp.ValidateOpts{
			Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// RecoveryCodes is how many single-use recovery codes a customer gets.
const RecoveryCodes = 10

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// recoveryBytes is a recovery code's randomness: 120 bits, above the 112
// at which a keyed hash (not a password hash) is enough to store it (ASVS
// V6.5.2), so a leaked table cannot be searched even with the pepper.
const recoveryBytes = 15

// NewRecoveryCodes returns n codes like "ABCD-EFGH-IJKL-MNOP-QRST-UVWX"
// (120 random bits) to show once, and their digests (RecoveryCodeDigest).
// A digest is not what is stored: the store keeps vault.RecoveryMAC of it,
// keyed by the pepper, so that a dump alone cannot test guesses. Codes of
// the earlier, 12-character form still verify until used or renewed.
func NewRecoveryCodes(n int) (codes []string, digests [][]byte) {
	for range n {
		b := make([]byte, recoveryBytes)
		_, _ = rand.Read(b)
		s := recoveryEncoding.EncodeToString(b) // 24 characters
		groups := make([]string, 0, len(s)/4)
		for i := 0; i < len(s); i += 4 {
			groups = append(groups, s[i:i+4])
		}
		codes = append(codes, strings.Join(groups, "-"))
		digests = append(digests, RecoveryCodeDigest(s))
	}
	return codes, digests
}

// RecoveryCodeDigest is the unkeyed digest of a recovery code, as typed in
// any case, with or without dashes and spaces. It was the stored form
// before codes were keyed; it is now only the input of vault.RecoveryMAC
// (and recognises codes of the old form not yet converted).
func RecoveryCodeDigest(code string) []byte {
	c := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
	sum := sha256.Sum256([]byte("resguardo.recovery.v1:" + c))
	return sum[:]
}

// QRPNG renders an otpauth:// URI as a QR code.
func QRPNG(uri string) ([]byte, error) {
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return nil, fmt.Errorf("totp uri: %w", err)
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return nil, fmt.Errorf("totp qr: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp qr: %w", err)
	}
	return buf.Bytes(), nil
}

// TOTPPeriod is how long one code lasts.
const TOTPPeriod = totpPeriod * time.Second

// TOTPCode is the code of secret at t: what an authenticator app shows.
// The server only checks codes; this makes one for the demo accounts,
// which are set up as if their owner had typed a code a step ago.
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{
		Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
}
