package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

func TestTOTPStepAcceptsOnceWithinSkew(t *testing.T) {
	en, err := NewTOTP("resguardo", "customer-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(en.URI, "otpauth://totp/") || len(en.QRPNG) < 100 || string(en.QRPNG[1:4]) != "PNG" {
		t.Fatalf("enrolment = %q, %d bytes of QR", en.URI, len(en.QRPNG))
	}
	now := time.Unix(1_800_000_000, 0)
	code, _ := totp.GenerateCode(en.Secret, now)
	step, ok := TOTPStep(en.Secret, code, now, 0)
	if !ok || step != now.Unix()/30 {
		t.Fatalf("valid code refused: %v %d", ok, step)
	}
	if _, ok := TOTPStep(en.Secret, code, now, step); ok {
		t.Error("the same code was accepted twice (replay)")
	}
	prev, _ := totp.GenerateCode(en.Secret, now.Add(-30*time.Second))
	if _, ok := TOTPStep(en.Secret, prev, now, 0); !ok {
		t.Error("code from one step before refused (skew of one step allowed)")
	}
	old, _ := totp.GenerateCode(en.Secret, now.Add(-90*time.Second))
	if _, ok := TOTPStep(en.Secret, old, now, 0); ok {
		t.Error("code from three steps before accepted")
	}
	if _, ok := TOTPStep(en.Secret, "12345", now, 0); ok {
		t.Error("short code accepted")
	}
	other, _ := NewTOTP("resguardo", "customer-2")
	if _, ok := TOTPStep(other.Secret, code, now, 0); ok {
		t.Error("code accepted under another secret")
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, hashes := NewRecoveryCodes(RecoveryCodes)
	if len(codes) != 10 || len(hashes) != 10 {
		t.Fatal("not 10 codes")
	}
	seen := map[string]bool{}
	for i, c := range codes {
		// 24 base32 characters (120 bits) in six groups of four.
		if len(c) != 29 || strings.Count(c, "-") != 5 || c[4] != '-' || seen[c] {
			t.Errorf("code %q", c)
		}
		seen[c] = true
		typed := strings.ToLower(strings.ReplaceAll(c, "-", " "))
		if string(RecoveryCodeDigest(typed)) != string(hashes[i]) {
			t.Errorf("code %q typed as %q does not match its hash", c, typed)
		}
	}
}
