package server

import (
	"encoding/json"
	"html"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/resguardo/resguardo"
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
		_, body, _ := br.get("/account/activity?lang=en")
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

// Customers see staff by role only: an entry a staff member caused shows
// neither the staff member's network and device nor their id, on the
// page, in the API and in the export; the customer's own sign-ins keep
// their network.
func TestAccessLogShowsStaffByRoleOnly(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b, withTrustedProxies("127.0.0.1/32"))
		var tk tokens
		body := `{"email":"role@example.com","password":"` + testPassword + `","name":"Role Only"}`
		if r := ts.do(t, ts.site, "POST", "/api/v1/auth/register", strings.NewReader(body), "Content-Type", "application/json"); r.StatusCode != 202 {
			t.Fatalf("register: %d", r.StatusCode)
		}
		login := `{"email":"role@example.com","password":"` + testPassword + `"}`
		r := ts.do(t, ts.site, "POST", "/api/v1/auth/login", strings.NewReader(login), "Content-Type", "application/json", "X-Forwarded-For", "198.51.100.7")
		if r.StatusCode != 200 || json.Unmarshal(r.body, &tk) != nil {
			t.Fatalf("login: %d", r.StatusCode)
		}
		var me struct {
			ID string `json:"id"`
		}
		ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, &me)

		// A lead opens the customer's page from the staff office's network.
		lead := ts.newStaff(t, "lead@example.com", resguardo.RoleLead)
		c := ts.console(t)
		c.signIn(lead)
		req, err := http.NewRequestWithContext(t.Context(), "GET", ts.staff.URL+"/customers/"+me.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0) Edg/120.0")
		if p := c.send(req); p.StatusCode != 200 {
			t.Fatalf("lead opens the customer: %d", p.StatusCode)
		}
		staffID := ""
		if rows, err := ts.env.DB.Conn().AuditForTarget(t.Context(), resguardo.TargetCustomer, me.ID, 0, 100); err == nil {
			for _, row := range rows {
				if row.ActorKind == resguardo.ActorStaff && row.Action == resguardo.ActCustomerViewed {
					staffID = row.ActorID
					if !strings.Contains(row.Client, "203.0.113") {
						t.Fatalf("the trail itself lost the staff network: %q", row.Client)
					}
				}
			}
		}
		if staffID == "" {
			t.Fatal("no staff view in the trail")
		}

		var page accessLogPage
		if r := ts.apiCall(t, "GET", "/api/v1/me/access-log", tk.AccessToken, nil, &page); r.StatusCode != 200 {
			t.Fatalf("access log: %d", r.StatusCode)
		}
		var staffEntry, ownSignIn *accessLogEntry
		for i, e := range page.Entries {
			switch {
			case e.ActorKind == resguardo.ActorStaff && e.Action == resguardo.ActCustomerViewed:
				staffEntry = &page.Entries[i]
			case e.ActorKind == resguardo.ActorCustomer && e.Action == resguardo.ActSignIn:
				ownSignIn = &page.Entries[i]
			}
		}
		if staffEntry == nil || staffEntry.ActorRole != "lead" || staffEntry.Client != "" {
			t.Errorf("staff entry %+v, want role lead and no client", staffEntry)
		}
		if ownSignIn == nil || !strings.Contains(ownSignIn.Client, "198.51.100") {
			t.Errorf("own sign-in entry %+v, want the customer's network", ownSignIn)
		}

		export := ts.apiCall(t, "GET", "/api/v1/me/export", tk.AccessToken, nil, nil)
		if export.StatusCode != 200 {
			t.Fatalf("export: %d", export.StatusCode)
		}
		br := ts.browser(t)
		br.signIn("role@example.com", testPassword, "")
		_, accountPage, _ := br.get("/account/activity?lang=en")
		apiJSON, _ := json.Marshal(page)
		for name, text := range map[string]string{"API": string(apiJSON), "export": string(export.body), "/account": accountPage} {
			for _, leak := range []string{"203.0.113", "Edge on Windows", staffID} {
				if strings.Contains(text, leak) {
					t.Errorf("%s shows the staff member's %q", name, leak)
				}
			}
		}
		if !strings.Contains(accountPage, "198.51.100") {
			t.Error("/account no longer shows the customer's own network")
		}
	})
}
