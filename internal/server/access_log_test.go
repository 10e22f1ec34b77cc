package server

import (
	"html"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/resguardo/resguardo/internal/testutil"
)

// A customer sees their own security events through the API (newest
// first, paginated) and on /account, and never another customer's.
func TestCustomerSeesOwnAccessLog(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		ana := ts.signUp(t, "ana@example.com", "Ana")
		bob := ts.signUp(t, "bob@example.com", "Bob")
		ts.apiCall(t, "POST", "/api/v1/auth/login", "", map[string]string{"email": "ana@example.com", "password": "not my password"}, nil)
		ts.apiCall(t, "POST", "/api/v1/me/phones", ana.AccessToken, map[string]string{"number": "+34612345678"}, nil)
		ts.apiCall(t, "PATCH", "/api/v1/me", bob.AccessToken, map[string]string{"name": "Bob B."}, nil)

		var page accessLogPage
		if r := ts.apiCall(t, "GET", "/api/v1/me/access-log", ana.AccessToken, nil, &page); r.StatusCode != 200 {
			t.Fatalf("access log: %d %s", r.StatusCode, r.body)
		}
		var actions []string
		for _, e := range page.Entries {
			actions = append(actions, e.Action+"/"+e.Outcome)
		}
		want := []string{"profile.phone_added/success", "session.sign_in_failed/failure", "session.sign_in/success", "account.sign_up/success"}
		if strings.Join(actions, " ") != strings.Join(want, " ") {
			t.Errorf("Ana's log = %v, want %v", actions, want)
		}
		for i := 1; i < len(page.Entries); i++ {
			if page.Entries[i].Seq >= page.Entries[i-1].Seq {
				t.Error("not newest first")
			}
		}
		// Two at a time: the cursor walks the whole log, once.
		var seen []int64
		before := ""
		for range 5 {
			var p accessLogPage
			ts.apiCall(t, "GET", "/api/v1/me/access-log?limit=2"+before, ana.AccessToken, nil, &p)
			for _, e := range p.Entries {
				seen = append(seen, e.Seq)
			}
			if p.NextBefore == nil {
				break
			}
			before = "&before=" + strconv.FormatInt(*p.NextBefore, 10)
		}
		if len(seen) != len(page.Entries) {
			t.Errorf("paged through %d entries, want %d", len(seen), len(page.Entries))
		}
		if r := ts.apiCall(t, "GET", "/api/v1/me/access-log?limit=1000", ana.AccessToken, nil, nil); r.StatusCode != 400 {
			t.Errorf("limit over 100: %d, want 400", r.StatusCode)
		}
		// The page shows the same events, and none of Bob's.
		br := ts.browser(t)
		br.signIn("ana@example.com", testPassword, "")
		_, body, _ := br.get("/account?lang=en")
		body = html.UnescapeString(body)
		for _, want := range []string{"Activity and access log", "Phone number added", "Failed sign-in", "Account created"} {
			if !strings.Contains(body, want) {
				t.Errorf("/account lacks %q", want)
			}
		}
		if strings.Contains(body, "Profile changed") {
			t.Error("Ana's page shows Bob's profile change")
		}
	})
}

// Every audited action has a label in both languages.
func TestEveryAuditActionHasALabel(t *testing.T) {
	src, err := os.ReadFile("../../audit.go")
	if err != nil {
		t.Fatal(err)
	}
	acts := regexp.MustCompile(`\tAct[A-Z]\w*\s*=\s*"([^"]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(acts) < 10 {
		t.Fatalf("found %d actions", len(acts))
	}
	for _, a := range acts {
		if a[1] == "audit.checkpoint" {
			continue
		}
		for lang, cat := range messages {
			if _, ok := cat["act."+a[1]]; !ok {
				t.Errorf("action %s has no label in %s", a[1], lang)
			}
		}
	}
}
