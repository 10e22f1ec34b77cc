package resguardo

import (
	"strings"
	"testing"
)

// Device names are one short line of letters, digits, spaces and a little
// punctuation: nothing that can break a line, reverse text, or make a link
// in the mail that quotes them.
func TestParseDeviceName(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "Pixel 8", "Pixel 8", true},
		{"apostrophe and brackets", "Ana's iPhone (work)", "Ana's iPhone (work)", true},
		{"Spanish letters", "Teléfono de María, nº 2", "Teléfono de María, nº 2", true},
		{"trimmed and NFC", "  Cafe\u0301 phone ", "Café phone", true},
		{"empty", "", "", true},
		{"line separator U+2028", "Pixel\u2028Your account is locked", "", false},
		{"paragraph separator U+2029", "Pixel\u2029Reply with your password", "", false},
		{"right-to-left override U+202E", "Pixel \u202egnp.exe", "", false},
		{"isolate U+2066", "Pixel \u2066x", "", false},
		{"zero-width space", "Pix\u200bel", "", false},
		{"soft hyphen (format)", "Pix\u00adel", "", false},
		{"tab", "Pixel\t8", "", false},
		{"URL", "Phone https://evil.example/reset", "", false},
		{"scheme-relative link", "Phone //evil.example", "", false},
		{"bare host name", "visit evil.example", "", false},
		{"e-mail address", "write to help@evil.example", "", false},
		{"markup", "<b>Pixel</b>", "", false},
		{"too long", strings.Repeat("x", MaxDeviceName+1), "", false},
		{"longest", strings.Repeat("x", MaxDeviceName), strings.Repeat("x", MaxDeviceName), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDeviceName(tt.in)
			if tt.ok {
				if err != nil || got != tt.want {
					t.Fatalf("ParseDeviceName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			if ErrorCode(err) != EInvalid {
				t.Fatalf("ParseDeviceName(%q) = %q, %v; want an invalid error", tt.in, got, err)
			}
			fields := ErrorFields(err)
			if len(fields) != 1 || fields[0].Field != "device_name" {
				t.Errorf("error fields %+v, want one naming device_name", fields)
			}
		})
	}
}
