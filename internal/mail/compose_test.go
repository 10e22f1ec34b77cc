package mail

import (
	"errors"
	"strings"
	"testing"
)

const testTo = "ana.garcia@example.com"

func TestComposeEveryKindAndLanguage(t *testing.T) {
	const link = "https://shop.example/account/verify?token=Zm9vYmFy-1234"
	data := Data{Link: link, Minutes: 30, Device: "Pixel 8"}
	for _, kind := range Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			byLang := map[string]Message{}
			for _, lang := range Languages() {
				m, err := Compose(kind, lang, testTo, data)
				if err != nil {
					t.Fatalf("Compose(%s, %s): %v", kind, lang, err)
				}
				if m.To != testTo || m.Lang != lang {
					t.Errorf("%s: To=%q Lang=%q", lang, m.To, m.Lang)
				}
				if m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") {
					t.Errorf("%s: bad subject %q", lang, m.Subject)
				}
				if !strings.Contains(m.Text, "\n"+link+"\n") {
					t.Errorf("%s: link missing or not on its own line:\n%s", lang, m.Text)
				}
				for _, bad := range []string{"<no value>", "{{", "}}", "\n\n\n", " \n"} {
					if strings.Contains(m.Text, bad) {
						t.Errorf("%s: text contains %q:\n%s", lang, bad, m.Text)
					}
				}
				if strings.Contains(m.Text, "ana") {
					t.Errorf("%s: text contains the recipient's personal data", lang)
				}
				byLang[lang] = m
			}
			en, es := byLang["en"], byLang["es"]
			if en.Subject == es.Subject || en.Text == es.Text {
				t.Errorf("English and Spanish are the same:\n%s\n---\n%s", en.Text, es.Text)
			}
		})
	}
}

func TestComposeDetails(t *testing.T) {
	tests := []struct {
		name     string
		kind     Kind
		lang     string
		data     Data
		contains []string
		lacks    []string
	}{
		{"reset minutes en", KindPasswordReset, "en", Data{Link: "https://a.example/r", Minutes: 30}, []string{"30 minutes"}, nil},
		{"reset minutes es", KindPasswordReset, "es", Data{Link: "https://a.example/r", Minutes: 30}, []string{"30 minutos"}, nil},
		{"reset one hour es", KindPasswordReset, "es", Data{Link: "https://a.example/r", Minutes: 60}, []string{"1 hora"}, nil},
		{"verify one day en", KindVerifyEmail, "en", Data{Link: "https://a.example/v", Minutes: 1440}, []string{"1 day"}, nil},
		{"verify two days es", KindVerifyEmail, "es", Data{Link: "https://a.example/v", Minutes: 2880}, []string{"2 días"}, nil},
		{"verify without minutes", KindVerifyEmail, "en", Data{Link: "https://a.example/v"}, []string{"used once."}, []string{"expires"}},
		{"device en", KindNewSignIn, "en", Data{Device: "Firefox on Linux"}, []string{"\n    “Firefox on Linux”\n", "label only"}, nil},
		{"device es", KindNewSignIn, "es", Data{Device: "iPhone de Ana"}, []string{"\n    «iPhone de Ana»\n", "solo como una etiqueta"}, nil},
		{"no device", KindNewSignIn, "en", Data{}, []string{"new device."}, []string{`""`}},
		{"notice without link en", KindPasswordChanged, "en", Data{}, []string{"Forgot your password?"}, []string{"http"}},
		{"notice without link es", KindEmailChanged, "es", Data{}, []string{"cuanto antes."}, []string{"http"}},
		{"spanish uses tú", KindPasswordReset, "es", Data{Link: "https://a.example/r", Minutes: 15}, []string{"tu contraseña"}, []string{"usted", "su contraseña"}},
		{"region subtag", KindPasswordChanged, "es-ES", Data{}, []string{"Hola"}, nil},
		{"upper case", KindPasswordChanged, "ES", Data{}, []string{"Hola"}, nil},
		{"unknown language falls back to English", KindPasswordChanged, "fr", Data{}, []string{"Hi,"}, nil},
		{"empty language is English", KindPasswordChanged, "", Data{}, []string{"Hi,"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Compose(tt.kind, tt.lang, testTo, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.contains {
				if !strings.Contains(m.Text, s) {
					t.Errorf("text lacks %q:\n%s", s, m.Text)
				}
			}
			for _, s := range tt.lacks {
				if strings.Contains(m.Text, s) {
					t.Errorf("text contains %q:\n%s", s, m.Text)
				}
			}
		})
	}
}

func TestComposeRefuses(t *testing.T) {
	ok := Data{Link: "https://a.example/r?t=1", Minutes: 30, Device: "Pixel"}
	with := func(f func(*Data)) Data { d := ok; f(&d); return d }
	tests := []struct {
		name string
		kind Kind
		to   string
		data Data
	}{
		{"unknown kind", Kind("newsletter"), testTo, ok},
		{"empty recipient", KindPasswordReset, "", ok},
		{"recipient with CRLF", KindPasswordReset, "a@example.com\r\nBcc: b@example.com", ok},
		{"recipient with display name", KindPasswordReset, "Ana <a@example.com>", ok},
		{"two recipients", KindPasswordReset, "a@example.com, b@example.com", ok},
		{"verify without link", KindVerifyEmail, testTo, with(func(d *Data) { d.Link = "" })},
		{"reset without link", KindPasswordReset, testTo, with(func(d *Data) { d.Link = "" })},
		{"account exists without link", KindAccountExists, testTo, with(func(d *Data) { d.Link = "" })},
		{"reset without minutes", KindPasswordReset, testTo, with(func(d *Data) { d.Minutes = 0 })},
		{"negative minutes", KindVerifyEmail, testTo, with(func(d *Data) { d.Minutes = -5 })},
		{"link with LF", KindPasswordReset, testTo, with(func(d *Data) { d.Link = "https://a.example/r\nSubject: x" })},
		{"link with CR", KindPasswordReset, testTo, with(func(d *Data) { d.Link = "https://a.example/r\rx" })},
		{"relative link", KindPasswordReset, testTo, with(func(d *Data) { d.Link = "/reset?t=1" })},
		{"javascript link", KindPasswordReset, testTo, with(func(d *Data) { d.Link = "javascript:alert(1)" })},
		{"protocol-relative link", KindPasswordReset, testTo, with(func(d *Data) { d.Link = "//evil.example/r" })},
		{"link with user info", KindPasswordReset, testTo, with(func(d *Data) { d.Link = "https://shop.example@evil.example/r" })},
		{"link with space", KindPasswordReset, testTo, with(func(d *Data) { d.Link = "https://a.example/r x" })},
		{"device with LF", KindNewSignIn, testTo, with(func(d *Data) { d.Device = "Pixel\nClick here" })},
		{"device with URL", KindNewSignIn, testTo, with(func(d *Data) { d.Device = "go to https://evil.example" })},
		{"device with bidi override", KindNewSignIn, testTo, with(func(d *Data) { d.Device = "Pixel \u202egnp.exe" })},
		{"device with line separator", KindNewSignIn, testTo, with(func(d *Data) { d.Device = "Pixel\u2028Your account is locked, reply with your password" })},
		{"device with paragraph separator", KindNewSignIn, testTo, with(func(d *Data) { d.Device = "Pixel\u2029Call +34 600 000 000" })},
		{"device with bare host name", KindNewSignIn, testTo, with(func(d *Data) { d.Device = "visit evil.example" })},
		{"device with zero-width space", KindNewSignIn, testTo, with(func(d *Data) { d.Device = "Pix\u200bel" })},
		{"device too long", KindNewSignIn, testTo, with(func(d *Data) { d.Device = strings.Repeat("x", 65) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compose(tt.kind, "en", tt.to, tt.data)
			if err == nil {
				t.Fatal("Compose succeeded")
			}
			if !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("error %v does not wrap ErrInvalidMessage", err)
			}
			if tt.to != "" && strings.Contains(err.Error(), tt.to) {
				t.Errorf("error %q contains the recipient", err)
			}
		})
	}
}

func TestTidy(t *testing.T) {
	got := tidy("\n\nHi,  \n\n\n\nbody\r\nend\n\n")
	if want := "Hi,\n\nbody\nend\n"; got != want {
		t.Errorf("tidy = %q, want %q", got, want)
	}
}
