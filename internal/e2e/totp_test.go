package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// TestTOTPEnrolmentAndSignIn: a customer enrols TOTP on /account/security
// from the QR page, signs out, and signs in again with a computed code, in
// a real browser against the started server.
func TestTOTPEnrolmentAndSignIn(t *testing.T) {
	srv, browser := setup(t)
	body := `{"email":"browser@example.com","password":"correct horse battery staple","name":"Browser User"}`
	resp, err := http.Post(srv.SiteURL+"/api/v1/auth/register", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("register: %v %v", err, resp)
	}
	resp.Body.Close()

	tab := newTab(t, browser)
	ctx, cancel := context.WithTimeout(tab, 2*timeout)
	defer cancel()
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		for _, a := range actions {
			if _, err := chromedp.Run(ctx, a); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
	}
	signIn := func() {
		step("sign in",
			chromedp.Navigate(srv.SiteURL+"/login?lang=en&next=%2Faccount%2Fsecurity"),
			chromedp.SendKeys("#email", "browser@example.com"),
			chromedp.SendKeys("#password", "correct horse battery staple"),
			chromedp.Submit("#password"))
	}
	signIn()
	step("open security page", chromedp.WaitVisible("#totp-setup"), chromedp.Click("#totp-setup"), chromedp.WaitVisible("#totp-secret"))
	secret, err := chromedp.Run(ctx, chromedp.Text("#totp-secret"))
	if err != nil || len(strings.TrimSpace(secret)) < 16 {
		t.Fatalf("secret on the page: %q %v", secret, err)
	}
	// The QR code really is shown (an image the CSP lets through).
	var qrWidth int
	err = eventually(ctx, func() (bool, error) {
		var err error
		qrWidth, err = chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector('img[src="/account/totp/qr.png"]').naturalWidth`))
		return qrWidth >= 100, err
	})
	if err != nil {
		t.Fatalf("QR image width %d (%v)", qrWidth, err)
	}
	// On the phone that shows the page, the product's script offers the
	// otpauth: link (the same secret as the text).
	link, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#totp-link').href`))
	if err != nil || !strings.HasPrefix(link, "otpauth://totp/") || !strings.Contains(link, "secret="+strings.TrimSpace(secret)) {
		t.Errorf("otpauth link %q (%v)", link, err)
	}
	code, _ := totp.GenerateCode(strings.TrimSpace(secret), time.Now())
	step("confirm", chromedp.SendKeys("#code", code), chromedp.Submit("#code"), chromedp.WaitVisible("#recovery-codes"))
	codes, err := chromedp.Run(ctx, chromedp.Text("#recovery-codes"))
	if err != nil || len(strings.Fields(codes)) != 10 || strings.Count(codes, "-") != 50 { // ten codes of six groups
		t.Fatalf("recovery codes shown: %q %v", codes, err)
	}

	// The codes can be copied and downloaded (buttons the script shows).
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('button[data-copy="recovery-codes"], button[data-download="recovery-codes"]')].filter(b => !b.hidden).length`))
	if err != nil || shown != 2 {
		t.Errorf("copy and download buttons shown: %d (%v)", shown, err)
	}

	step("sign out", chromedp.Navigate(srv.SiteURL+"/account"), chromedp.Click(`header form[action="/logout"] button`), chromedp.WaitVisible(`a[href="/login"]`))
	signIn()
	step("second factor page", chromedp.WaitVisible("#code"))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "/login/mfa") {
		t.Fatalf("after the password: %s, want the code page", loc)
	}
	// The confirmation used this time step; the next one is within the
	// allowed skew and has not been used.
	next, _ := totp.GenerateCode(strings.TrimSpace(secret), time.Now().Add(30*time.Second))
	step("enter code", chromedp.SendKeys("#code", next), chromedp.Submit("#code"), chromedp.WaitVisible("#h-totp"))
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasSuffix(loc, "/account/security") {
		t.Errorf("after the code: %s, want /account/security", loc)
	}
}
