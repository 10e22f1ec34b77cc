package e2e

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// axeSource is axe-core, a test-only asset (testdata/axe/README.md): the
// test injects it into each page over the DevTools protocol; no page ever
// loads it.
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// screenshotsEnv names the folder the page test writes its screenshots to;
// by default screenshots/ at the repository's root (git-ignored).
const screenshotsEnv = "RESGUARDO_SCREENSHOTS"

// viewport is one screen the pages are checked on.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

var viewports = []viewport{{"phone", 390, 844, true}, {"desktop", 1280, 900, false}}

// pageCheckJS reports what a page does wrong that the test can see from
// inside it: sideways scrolling (and the elements that stick out), fields
// marked invalid without a message that describes them, messages no field
// points to, and where the focus is.
const pageCheckJS = `(() => {
  const doc = document.documentElement, width = doc.clientWidth;
  const out = {overflow: doc.scrollWidth > width, wide: [], undescribed: [], orphans: [], focus: "", times: 0, utcTimes: 0};
  if (out.overflow) {
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.right > width + 1 && out.wide.length < 5) out.wide.push(el.tagName + (el.id ? '#' + el.id : '') + (el.className ? '.' + el.className : '') + ' ' + Math.round(r.right));
    }
  }
  for (const el of document.querySelectorAll('[aria-invalid="true"]')) {
    const ids = (el.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
    const msg = ids.map(id => document.getElementById(id)).filter(m => m && m.classList.contains('field-error') && m.textContent.trim());
    if (msg.length === 0) out.undescribed.push(el.id || el.name);
  }
  for (const m of document.querySelectorAll('.field-error')) {
    if (!document.querySelector('[aria-describedby~="' + m.id + '"][aria-invalid="true"]')) out.orphans.push(m.id);
  }
  for (const a of document.querySelectorAll('#error-summary a[href^="#"]')) {
    if (!document.getElementById(a.getAttribute('href').slice(1))) out.orphans.push(a.getAttribute('href'));
  }
  const f = document.activeElement;
  out.focus = !f || f === document.body ? 'body' : (f.id || f.tagName);
  for (const t of document.querySelectorAll('time[datetime]')) {
    out.times++;
    if (t.textContent.includes('UTC')) out.utcTimes++;
  }
  return out;
})()`

type pageCheck struct {
	Overflow    bool     `json:"overflow"`
	Wide        []string `json:"wide"`
	Undescribed []string `json:"undescribed"`
	Orphans     []string `json:"orphans"`
	Focus       string   `json:"focus"`
	Times       int      `json:"times"`
	UTCTimes    int      `json:"utcTimes"`
}

// axeRunJS runs axe-core on the page and returns its serious and critical
// violations, briefly.
const axeRunJS = `axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(r.violations
  .filter(v => v.impact === 'serious' || v.impact === 'critical')
  .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))`

// pageTester visits pages in one browser context at one size and language.
type pageTester struct {
	t     *testing.T
	vp    viewport
	lang  string
	shots string
}

// visit opens u (a page, or a form's answer already loaded when u is "")
// and checks it: no sideways scrolling, every field error described, no
// serious accessibility fault, times shown in the reader's zone; then it
// takes a screenshot named name.
func (p pageTester) visit(ctx context.Context, name, u string) pageCheck {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if u != "" {
		if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(u)); err != nil {
			p.t.Fatalf("%s: open %s: %v", name, u, err)
		}
	}
	where := fmt.Sprintf("%s (%s, %s)", name, p.vp.name, p.lang)
	lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	if err != nil || lang != p.lang {
		p.t.Errorf("%s: page language %q, want %q (%v)", where, lang, p.lang, err)
	}
	c, err := chromedp.Run(ctx, chromedp.Evaluate[pageCheck](pageCheckJS))
	if err != nil {
		p.t.Fatalf("%s: %v", where, err)
	}
	if c.Overflow {
		p.t.Errorf("%s: scrolls sideways; sticking out: %v", where, c.Wide)
	}
	if len(c.Undescribed) > 0 {
		p.t.Errorf("%s: fields marked invalid without a message describing them: %v", where, c.Undescribed)
	}
	if len(c.Orphans) > 0 {
		p.t.Errorf("%s: messages or summary links that point at no field: %v", where, c.Orphans)
	}
	if c.UTCTimes > 0 {
		p.t.Errorf("%s: %d of %d times still in UTC text (the page script did not run)", where, c.UTCTimes, c.Times)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](axeSource+";true")); err != nil {
		p.t.Fatalf("%s: inject axe-core: %v", where, err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](axeRunJS, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: axe-core: %v", where, err)
	}
	var violations []string
	if err := json.Unmarshal([]byte(raw), &violations); err != nil {
		p.t.Fatalf("%s: axe-core answer %q: %v", where, raw, err)
	}
	for _, v := range violations {
		p.t.Errorf("%s: accessibility: %s", where, v)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", where, err)
	}
	file := filepath.Join(p.shots, fmt.Sprintf("%s-%s-%s.png", name, p.vp.name, p.lang))
	if err := os.WriteFile(file, shot, 0o600); err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	return c
}

// failSubmit fills a form with wrong values (field selector → value),
// submits it without the browser's own checks, as a browser without them
// would, and checks the answer like any page, plus: the focus is not left
// on <body>, and the field expected to be at fault (if any) is marked.
func (p pageTester) failSubmit(ctx context.Context, name, u string, values [][2]string, wantInvalid string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(u)); err != nil {
		p.t.Fatalf("%s: open %s: %v", name, u, err)
	}
	var steps []chromedp.Action[chromedp.Void]
	for _, v := range values {
		steps = append(steps, chromedp.SetValue(v[0], v[1]))
	}
	steps = append(steps, chromedp.Submit(values[0][0]))
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		p.t.Fatalf("%s: submit: %v", name, err)
	}
	where := fmt.Sprintf("%s (%s, %s)", name, p.vp.name, p.lang)
	if resp == nil || resp.Status < 400 || resp.Status >= 500 {
		p.t.Errorf("%s: answer %v, want a 4xx page", where, resp)
	}
	c := p.visit(ctx, name, "")
	if c.Focus == "body" {
		p.t.Errorf("%s: after a failed submit the focus is on <body>", where)
	}
	if wantInvalid != "" {
		marked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('`+wantInvalid+`[aria-invalid="true"][aria-describedby]') !== null`))
		if err != nil || !marked {
			p.t.Errorf("%s: %s is not marked invalid and described (%v)", where, wantInvalid, err)
		}
	}
}

// context opens an isolated browser context (its own cookies) at this size,
// in this language, in a time zone other than UTC.
func (p pageTester) context(browser context.Context, origins ...string) context.Context {
	p.t.Helper()
	tab, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	p.t.Cleanup(cancel)
	start(p.t, tab, cancel, "browser context")
	ctx, cancelT := context.WithTimeout(tab, 20*timeout)
	p.t.Cleanup(cancelT)
	p.emulate(ctx, origins...)
	return ctx
}

// TestPagesFitReadAndHelp visits every page of both listeners, with
// realistic data, on a phone and a desktop, in Spanish and English: no page
// scrolls sideways, every field error is marked and described, a failed
// submit moves the focus off <body>, axe-core finds no serious or critical
// fault, and times are in the reader's zone. Screenshots of every page go to
// $RESGUARDO_SCREENSHOTS (default: screenshots/ at the repository's root).
func TestPagesFitReadAndHelp(t *testing.T) {
	srv, browser := setup(t)
	shots := os.Getenv(screenshotsEnv)
	if shots == "" {
		shots = filepath.Join("..", "..", "screenshots")
	}
	if err := os.MkdirAll(shots, 0o750); err != nil {
		t.Fatal(err)
	}

	// A customer with a long name, three phones, three addresses and an
	// access log of more than 50 entries.
	const email = "maria.de.los.angeles.fernandez@example.com"
	longName := "María de los Ángeles Fernández-Villaverde de la Concepción Ruiz-Gallardón"
	token := newCustomer(t, srv, email, longName)
	for _, ph := range [][2]string{{"móvil", "+34 612 345 612"}, {"trabajo", "+52 55 1234 5678"}, {"casa de mis padres en Sevilla", "+34 954 123 456"}} {
		if st := api(t, "POST", srv.SiteURL+"/api/v1/me/phones", token, map[string]string{"label": ph[0], "number": ph[1]}, nil); st != 201 {
			t.Fatalf("add phone: %d", st)
		}
	}
	for _, a := range []map[string]string{
		{"label": "casa", "line1": "Calle de Alcalá 123, piso 4º, puerta izquierda", "line2": "Edificio Las Torres Blancas de Chamartín", "city": "Madrid", "region": "Comunidad de Madrid", "postal_code": "28009", "country": "ES"},
		{"label": "oficina", "line1": "Avenida Paseo de la Reforma 222, Torre Mayor, piso 35", "city": "Ciudad de México", "region": "CDMX", "postal_code": "06600", "country": "MX"},
		{"label": "verano", "line1": "Rua Augusta 1000", "city": "Lisboa", "country": "PT"},
	} {
		if st := api(t, "POST", srv.SiteURL+"/api/v1/me/addresses", token, a, nil); st != 201 {
			t.Fatalf("add address: %d", st)
		}
	}
	for i := 0; i < 44; i++ {
		if st := api(t, "PATCH", srv.SiteURL+"/api/v1/me", token, map[string]string{"name": longName}, nil); st != 200 {
			t.Fatalf("rename: %d", st)
		}
	}
	var me struct {
		ID string `json:"id"`
	}
	if st := api(t, "GET", srv.SiteURL+"/api/v1/me", token, nil, &me); st != 200 || me.ID == "" {
		t.Fatalf("me: %d", st)
	}

	// The staff: a lead (customers) and an administrator (team, audit),
	// each enrolled once in a context of their own; later contexts reuse
	// their cookies.
	staffTab := func(email, role string) context.Context {
		tab, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		start(t, tab, cancel, role+" context")
		ctx, cancelE := context.WithTimeout(tab, 3*timeout)
		defer cancelE()
		enrolAndSignIn(t, ctx, srv, email, role)
		return tab
	}
	leadCtx := staffTab("lead@corp.example", "lead")
	adminCtx := staffTab("admin.con.un.nombre.largo@corp.example", "admin")

	for _, vp := range viewports {
		for _, lang := range []string{"en", "es"} {
			t.Run(vp.name+"-"+lang, func(t *testing.T) {
				p := pageTester{t: t, vp: vp, lang: lang, shots: shots}
				site, staff := srv.SiteURL, srv.StaffURL

				// Guests.
				guest := p.context(browser, site, staff)
				for _, pg := range [][2]string{
					{"home", site + "/"}, {"register", site + "/register"}, {"login", site + "/login"},
					{"forgot", site + "/password/forgot"}, {"reset", site + "/password/reset?token=" + strings.Repeat("A", 43)},
					{"verify-email", site + "/verify-email?token=" + strings.Repeat("A", 43)}, {"not-found", site + "/no-such-page"},
					{"staff-login", staff + "/login"},
				} {
					p.visit(guest, pg[0], pg[1])
				}
				p.failSubmit(guest, "register-failed", site+"/register",
					[][2]string{{"#password", "password1234"}, {"#name", longName}, {"#email", "nuevo@example.com"}}, "#password")
				p.failSubmit(guest, "login-failed", site+"/login", [][2]string{{"#password", "not the password at all"}, {"#email", email}}, "")
				p.failSubmit(guest, "staff-login-failed", staff+"/login", [][2]string{{"#password", "not the password at all"}, {"#email", "nobody@corp.example"}}, "")

				// A staff member's enrolment: the name and password step, a
				// refused name, then the second-factor step.
				enrol := staff + "/enrol?token=" + url.QueryEscape(staffCreate(t, srv, "invitee."+vp.name+"."+lang+"@corp.example", "agent"))
				p.visit(guest, "staff-enrol", enrol)
				p.failSubmit(guest, "staff-enrol-failed", enrol, [][2]string{{"#name", "   "}, {"#password", staffPassword}}, "#name")
				if _, err := chromedp.RunResponse(guest, chromedp.Navigate(enrol), chromedp.SetValue("#name", longName),
					chromedp.SetValue("#password", staffPassword), chromedp.Submit("#password")); err != nil {
					t.Fatalf("enrolment password step: %v", err)
				}
				wait, cancelWait := context.WithTimeout(guest, timeout)
				_, err := chromedp.Run(wait, chromedp.WaitVisible("#totp-secret"))
				cancelWait()
				if err != nil {
					t.Fatalf("enrolment second-factor step: %v", err)
				}
				p.visit(guest, "staff-enrol-totp", "")

				// The customer.
				cust := p.context(browser, site)
				if _, err := chromedp.RunResponse(cust, chromedp.Navigate(site+"/login"), chromedp.SetValue("#email", email),
					chromedp.SetValue("#password", customerPassword), chromedp.Submit("#password")); err != nil {
					t.Fatalf("customer sign-in: %v", err)
				}
				if loc, _ := chromedp.Run(cust, chromedp.Location()); !strings.HasSuffix(loc, "/account") {
					t.Fatalf("customer sign-in ended on %s", loc)
				}
				for _, pg := range [][2]string{
					{"account", site + "/account"}, {"account-contact", site + "/account/contact"},
					{"account-activity", site + "/account/activity"}, {"account-privacy", site + "/account/privacy"},
					{"security", site + "/account/security"},
					{"delete-account", site + "/account/delete"}, {"reauth", site + "/account/reauth"},
				} {
					p.visit(cust, pg[0], pg[1])
				}
				p.failSubmit(cust, "account-phone-failed", site+"/account/contact", [][2]string{{"#phone-number", "12345"}}, "#phone-number")
				p.failSubmit(cust, "account-address-failed", site+"/account/contact", [][2]string{{"#new-line1", "Calle Mayor 1"}, {"#new-city", "   "}, {"#new-country", "ES"}}, "#new-city")
				p.failSubmit(cust, "security-password-failed", site+"/account/security",
					[][2]string{{"#current_password", "not the password at all"}, {"#new_password", "another long passphrase here"}}, "#current_password")
				p.failSubmit(cust, "account-name-failed", site+"/account", [][2]string{{"#name", "   "}}, "#name")
				p.failSubmit(cust, "delete-account-failed", site+"/account/delete", [][2]string{{"#confirm", "someone@example.com"}}, "#confirm")

				// The lead and the administrator, each with the cookies of
				// their enrolment (a new tab of their browser context).
				lead := p.sameContext(leadCtx, staff)
				for _, pg := range [][2]string{
					{"staff-home-lead", staff + "/"}, {"staff-customers", staff + "/customers"},
					{"staff-customer", staff + "/customers/" + url.PathEscape(me.ID)}, {"staff-approvals-lead", staff + "/approvals"},
					{"staff-customer-missing", staff + "/customers/" + strings.Repeat("A", 26)},
				} {
					p.visit(lead, pg[0], pg[1])
				}
				p.failSubmit(lead, "staff-search-failed", staff+"/customers", [][2]string{{"#q", "x"}}, "#q")
				p.failSubmit(lead, "staff-reveal-failed", staff+"/customers/"+url.PathEscape(me.ID), [][2]string{{"#reveal-reason", "short"}}, "#reveal-reason")

				admin := p.sameContext(adminCtx, staff)
				for _, pg := range [][2]string{
					{"staff-home-admin", staff + "/"}, {"staff-team", staff + "/team"}, {"staff-audit", staff + "/audit"},
					{"staff-approvals-admin", staff + "/approvals"},
				} {
					p.visit(admin, pg[0], pg[1])
				}
				p.failSubmit(admin, "staff-audit-failed", staff+"/audit", [][2]string{{"#f-action", "no spaces allowed!"}}, "#f-action")
			})
		}
	}
	if t.Failed() {
		return
	}
	n, _ := filepath.Glob(filepath.Join(shots, "*.png"))
	t.Logf("%d screenshots in %s", len(n), shots)
}

// sameContext opens a new tab in the browser context of ctx (sharing its
// cookies) at this size, in this language and time zone.
func (p pageTester) sameContext(ctx context.Context, origin string) context.Context {
	p.t.Helper()
	c := chromedp.FromContext(ctx)
	tab, cancel := chromedp.NewContext(ctx, chromedp.WithExistingBrowserContext(c.BrowserContextID))
	p.t.Cleanup(cancel)
	start(p.t, tab, cancel, "tab")
	p.emulate(tab, origin)
	return tab
}

// emulate sets the tab's size, its time zone (not UTC, so that a time left
// in UTC shows), and the language of both origins.
func (p pageTester) emulate(ctx context.Context, origins ...string) {
	p.t.Helper()
	opts := []chromedp.EmulateViewportOption{}
	if p.vp.mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	if _, err := chromedp.Run(ctx, chromedp.EmulateViewport(p.vp.width, p.vp.height, opts...)); err != nil {
		p.t.Fatalf("viewport: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/Mexico_City"})
		return err
	})); err != nil {
		p.t.Fatalf("time zone: %v", err)
	}
	for _, o := range origins {
		if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(o+"/?lang="+p.lang)); err != nil {
			p.t.Fatalf("language: %v", err)
		}
	}
}
