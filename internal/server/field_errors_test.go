package server

import (
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/resguardo/resguardo"
)

// fieldMarked reports whether the page marks the input with this id as
// invalid and describes it by a message element that exists, and whether
// the summary links to it.
func fieldMarked(t *testing.T, page, id string) {
	t.Helper()
	tag := regexp.MustCompile(`<(?:input|select) id="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(page)
	if tag == "" {
		t.Fatalf("no input #%s on the page", id)
	}
	if !strings.Contains(tag, `aria-invalid="true"`) {
		t.Errorf("#%s not marked invalid: %s", id, tag)
	}
	m := regexp.MustCompile(`aria-describedby="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil || !strings.Contains(" "+m[1]+" ", " "+id+"-error ") {
		t.Errorf("#%s not described by its message: %s", id, tag)
	}
	if !strings.Contains(page, `<p id="`+id+`-error" class="field-error">`) {
		t.Errorf("no message element #%s-error", id)
	}
	if !strings.Contains(page, `<a href="#`+id+`">`) {
		t.Errorf("the summary does not link to #%s", id)
	}
}

// TestFieldErrorsRegister: each fault of a new password has its own message
// at the field; the name and e-mail typed are kept, the password never.
func TestFieldErrorsRegister(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser(t)
	for _, c := range []struct{ password, want string }{
		{"short", messages["en"]["error.field.password_short"]},
		{"password1234", messages["en"]["error.field.password_common"]},
	} {
		_, _, tok := b.get("/register?lang=en")
		resp, page := b.postPage("/register", url.Values{"csrf_token": {tok}, "name": {"Ana María"}, "email": {"ana@example.com"}, "password": {c.password}})
		if resp.StatusCode != 400 {
			t.Fatalf("%q: %d, want 400", c.password, resp.StatusCode)
		}
		fieldMarked(t, page, "password")
		if !strings.Contains(html.UnescapeString(page), c.want) {
			t.Errorf("%q: page lacks %q", c.password, c.want)
		}
		if strings.Contains(page, `value="`+c.password+`"`) {
			t.Errorf("the password typed is on the page")
		}
		for _, kept := range []string{`value="Ana María"`, `value="ana@example.com"`} {
			if !strings.Contains(html.UnescapeString(page), kept) {
				t.Errorf("page lacks %s", kept)
			}
		}
		if strings.Contains(page, `id="email" `) && regexp.MustCompile(`<input id="email"[^>]*aria-invalid`).MatchString(page) {
			t.Errorf("a valid field is marked invalid")
		}
	}
	if messages["en"]["error.field.password_short"] == messages["en"]["error.field.password_common"] {
		t.Fatal("two faults share one message")
	}
}

// TestFieldErrorsAccountForms: on the account page only the form that failed
// is marked, its values are kept, and its message links to its own input.
func TestFieldErrorsAccountForms(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser(t)
	ts.signUp(t, "eva@example.com", "Eva")
	if resp := b.signIn("eva@example.com", testPassword, ""); resp.StatusCode != 303 {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	_, _, tok := b.get("/account")
	resp, page := b.postPage("/account/phones", url.Values{"csrf_token": {tok}, "label": {"trabajo"}, "number": {"12345"}})
	if resp.StatusCode != 400 {
		t.Fatalf("invalid phone: %d", resp.StatusCode)
	}
	fieldMarked(t, page, "phone-number")
	if !strings.Contains(page, `value="12345"`) || !strings.Contains(page, `value="trabajo"`) {
		t.Error("the phone typed is not kept")
	}
	if n := strings.Count(page, `aria-invalid="true"`); n != 1 {
		t.Errorf("%d fields marked, want 1", n)
	}
	resp, page = b.postPage("/account/addresses", url.Values{"csrf_token": {tok}, "line1": {"Calle Mayor 1"}, "city": {""}, "country": {"ZZ"}})
	if resp.StatusCode != 400 {
		t.Fatalf("invalid address: %d", resp.StatusCode)
	}
	fieldMarked(t, page, "new-city")
	fieldMarked(t, page, "new-country")
	if !strings.Contains(page, `value="Calle Mayor 1"`) {
		t.Error("the address typed is not kept")
	}
}

// TestLogAndSessionWording: a log line adds its outcome only when the
// action's name does not already say it, and a session line shows the
// network apart from the device it already names.
func TestLogAndSessionWording(t *testing.T) {
	for _, c := range []struct {
		action, outcome string
		want            bool
	}{
		{"session.sign_in_failed", "failure", false},
		{"session.sign_in_throttled", "denied", false},
		{"profile.changed", "success", false},
		{"staff.customer_field_revealed", "denied", true},
	} {
		if got := outcomeNoted(c.action, c.outcome); got != c.want {
			t.Errorf("outcomeNoted(%q, %q) = %v, want %v", c.action, c.outcome, got, c.want)
		}
	}
	if got := clientNetwork("198.51.100.0/24 Firefox on Linux"); got != "198.51.100.0/24" {
		t.Errorf("clientNetwork = %q", got)
	}
	ts := newTestServer(t)
	ts.signUp(t, "wording@example.com", "Wording")
	b := ts.browser(t)
	if resp := b.signIn("wording@example.com", "not the password at all", ""); resp.StatusCode != 401 && resp.StatusCode != 400 {
		t.Fatalf("failed sign-in: %d", resp.StatusCode)
	}
	b.signIn("wording@example.com", testPassword, "")
	_, page, _ := b.get("/account/activity?lang=en")
	if !strings.Contains(page, "Failed sign-in") || strings.Contains(page, "Failed sign-in (failed)") {
		t.Errorf("the failed sign-in reads wrong on the activity page")
	}
}

// TestCountrySelector: the address forms offer every ISO 3166-1 country the
// address check accepts, named in the page's language.
func TestCountrySelector(t *testing.T) {
	en, es := countries("en"), countries("es")
	if len(en) != 249 || len(en) != len(es) { // ISO 3166-1 assigns 249 codes

		t.Fatalf("%d countries in English, %d in Spanish", len(en), len(es))
	}
	names := map[string]map[string]string{"en": {}, "es": {}}
	for _, c := range en {
		names["en"][c.Code] = c.Name
	}
	for _, c := range es {
		names["es"][c.Code] = c.Name
	}
	for code, want := range map[string][2]string{"ES": {"Spain", "España"}, "MX": {"Mexico", "México"}, "DE": {"Germany", "Alemania"}} {
		if names["en"][code] != want[0] || names["es"][code] != want[1] {
			t.Errorf("%s: %q / %q", code, names["en"][code], names["es"][code])
		}
	}
	for _, c := range en {
		if err := (&resguardo.Address{Line1: "x", City: "y", Country: c.Code}).Clean(); err != nil {
			t.Errorf("%s offered but refused by the address check: %v", c.Code, err)
		}
	}
	for _, bad := range []string{"ZZ", "EU", "UN", "QO", "YU", "UK"} {
		if _, ok := names["en"][bad]; ok {
			t.Errorf("%s offered as a country", bad)
		}
	}
}

// TestOpenAPIDeclaresServer: client generators need a server to put in
// front of the paths; the document names the origin it is served from.
func TestOpenAPIDeclaresServer(t *testing.T) {
	var doc struct {
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "/" {
		t.Errorf("servers = %+v, want one, the same origin", doc.Servers)
	}
}
