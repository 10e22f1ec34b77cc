package server

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/mail"
	"github.com/resguardo/resguardo/internal/testutil"
)

// The mail a request causes is in that request's language, which the
// server negotiates and passes down as a value: a sign-in from a new
// device, a change of address (the link to the new address, the notice to
// the old one), each asked for in Spanish by a customer who signed up in
// English.
func TestMailIsInTheLanguageOfTheRequest(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		tk := ts.signUp(t, "idioma@example.com", "Idioma")
		subject := func(kind mail.Kind, lang string) string {
			m, err := mail.Compose(kind, lang, "x@example.com", mail.Data{Device: "Móvil", Link: "https://example.com/x", Minutes: 1})
			if err != nil {
				t.Fatal(err)
			}
			return m.Subject
		}
		got := func(to, subj string) bool {
			for _, m := range ts.env.DeliverMail(t) {
				if strings.Contains(m.To, "<"+to+">") && m.Subject == subj {
					return true
				}
			}
			return false
		}
		post := func(path, token string, body any) response {
			t.Helper()
			raw, _ := json.Marshal(body)
			h := []string{"Content-Type", "application/json", "Accept-Language", "es"}
			if token != "" {
				h = append(h, "Authorization", "Bearer "+token)
			}
			return ts.do(t, ts.site, "POST", path, strings.NewReader(string(raw)), h...)
		}
		for _, kind := range []mail.Kind{mail.KindNewSignIn, mail.KindVerifyEmail, mail.KindEmailChanged} {
			if subject(kind, "es") == subject(kind, "en") {
				t.Fatalf("%s: the same subject in both languages; the test could not tell them apart", kind)
			}
		}

		if r := post("/api/v1/me/email", tk.AccessToken, map[string]string{"email": "nuevo@example.com"}); r.StatusCode != 202 && r.StatusCode != 204 {
			t.Fatalf("e-mail change: %d %s", r.StatusCode, r.body)
		}
		if !got("nuevo@example.com", subject(mail.KindVerifyEmail, "es")) {
			t.Error("no confirmation link in Spanish to the new address")
		}
		link := ts.env.LinkToken(t, "nuevo@example.com", "token=")
		if r := post("/api/v1/auth/verify-email", "", map[string]string{"token": link}); r.StatusCode != 204 && r.StatusCode != 200 {
			t.Fatalf("confirm: %d %s", r.StatusCode, r.body)
		}
		if !got("idioma@example.com", subject(mail.KindEmailChanged, "es")) {
			t.Error("no notice in Spanish to the old address after a confirmation asked for in Spanish")
		}
		// A new device is announced once the account is past its first minutes.
		ts.env.Clock.Advance(11 * time.Minute)
		if r := post("/api/v1/auth/login", "", map[string]string{"email": "nuevo@example.com", "password": testPassword, "device_name": "Móvil nuevo"}); r.StatusCode != 200 {
			t.Fatalf("login: %d %s", r.StatusCode, r.body)
		}
		if !got("nuevo@example.com", subject(mail.KindNewSignIn, "es")) {
			t.Error("no new-device notice in Spanish after a sign-in asked for in Spanish")
		}
	})
}
