package server

import (
	"bytes"
	"encoding/json"
	"html"
	"image/png"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/testutil"
)

var (
	secretRe  = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)
	qrSrcRe   = regexp.MustCompile(`<img id="totp-qr" src="([^"]+)"`)
	resultRe  = regexp.MustCompile(`<a href="/customers/([A-Z2-7]{26})">`)
	approveRe = regexp.MustCompile(`action="/approvals/([A-Z2-7]{26})/approve"`)
)

// enrolThroughPages follows an enrolment link on the console: password,
// then the secret (text and QR image), then a first code.
func (c *console) enrolThroughPages(token, email string, role resguardo.Role) staffMember {
	c.t.Helper()
	form := c.get("/enrol?token=" + url.QueryEscape(token))
	if form.StatusCode != 200 || !strings.Contains(form.Body, email) || !strings.Contains(form.Body, `name="password"`) {
		c.t.Fatalf("enrolment page: %d", form.StatusCode)
	}
	secretPage := c.post("/enrol", url.Values{"csrf_token": {form.token()}, "token": {token}, "name": {staffTestName(email)}, "password": {staffTestPassword}})
	m := secretRe.FindStringSubmatch(secretPage.Body)
	src := qrSrcRe.FindStringSubmatch(secretPage.Body)
	if secretPage.StatusCode != 200 || m == nil || src == nil {
		c.t.Fatalf("secret page: %d %s", secretPage.StatusCode, secretPage.Body)
	}
	qr := c.get(html.UnescapeString(src[1]))
	if qr.StatusCode != 200 || qr.Header.Get("Content-Type") != "image/png" || qr.Header.Get("Cache-Control") != "no-store" {
		c.t.Fatalf("QR image: %d %q %q", qr.StatusCode, qr.Header.Get("Content-Type"), qr.Header.Get("Cache-Control"))
	}
	if _, err := png.Decode(bytes.NewReader([]byte(qr.Body))); err != nil {
		c.t.Fatalf("QR image is not a PNG: %v", err)
	}
	member := staffMember{Email: email, Role: role, Secret: m[1]}
	done := c.post("/enrol/confirm", url.Values{"csrf_token": {secretPage.token()}, "token": {token}, "code": {c.ts.code(c.t, member)}})
	if done.StatusCode != 200 || !strings.Contains(done.Body, `href="/login"`) {
		c.t.Fatalf("enrolment confirmation: %d %s", done.StatusCode, done.Body)
	}
	if again := c.get("/enrol?token=" + url.QueryEscape(token)); again.StatusCode != 400 || strings.Contains(again.Body, `name="password"`) {
		c.t.Errorf("a spent enrolment link still offers its form: %d", again.StatusCode)
	}
	return member
}

// A lead enrols and signs in on the console (password, then code), finds a
// customer by phone with a POST search, sees masked values only, reveals
// the phone with a reason (shown once, no-store), and the customer's
// access log then shows the view by the lead role.
func TestStaffLeadFindsAndRevealsCustomer(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		tk := ts.signUp(t, "maria.garcia@example.com", "María García López")
		if r := ts.apiCall(t, "POST", "/api/v1/me/phones", tk.AccessToken, map[string]string{"label": "móvil", "number": "+34 612 345 612"}, nil); r.StatusCode != 201 {
			t.Fatalf("add phone: %d %s", r.StatusCode, r.body)
		}
		clear := []string{"maria.garcia@example.com", "García", "López", "612345612", "612 345 612"}

		c := ts.console(t)
		lead := c.enrolThroughPages(ts.enrolLink(t, "lead@corp.example", resguardo.RoleLead), "lead@corp.example", resguardo.RoleLead)

		// Password: a session waiting for its code, which opens nothing else.
		planted := "planted-by-attacker"
		c.setCookie(staffSessionCookie, planted)
		tok := c.get("/login").token()
		if resp := c.post("/login", url.Values{"csrf_token": {tok}, "email": {lead.Email}, "password": {staffTestPassword}}); resp.StatusCode != 303 || resp.Header.Get("Location") != "/login/code" {
			t.Fatalf("password step: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		pending := c.cookie(staffSessionCookie)
		if pending == "" || pending == planted {
			t.Fatalf("pending session cookie %q", pending)
		}
		// A session without its code opens no page: it is sent on to the
		// code form, and back afterwards.
		if resp := c.get("/customers"); resp.StatusCode != 303 || resp.Header.Get("Location") != "/login/code?next=%2Fcustomers" {
			t.Fatalf("a session without its code opened /customers: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp := c.get("/"); resp.StatusCode != 303 || resp.Header.Get("Location") != "/login/code" {
			t.Fatalf("a session without its code opened /: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		codePage := c.get("/login/code")
		if resp := c.post("/login/code", url.Values{"csrf_token": {codePage.token()}, "code": {"000000"}}); resp.StatusCode != 400 {
			t.Errorf("wrong code: %d, want 400", resp.StatusCode)
		}
		if resp := c.post("/login/code", url.Values{"csrf_token": {codePage.token()}, "code": {ts.code(t, lead)}}); resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
			t.Fatalf("code step: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if full := c.cookie(staffSessionCookie); full == pending || full == "" {
			t.Fatal("the session token was not replaced after the code")
		}
		home := c.get("/")
		if home.StatusCode != 200 || !strings.Contains(home.Body, `href="/customers"`) || !strings.Contains(home.Body, `href="/approvals"`) ||
			strings.Contains(home.Body, `href="/team"`) || strings.Contains(home.Body, `href="/audit"`) {
			t.Fatalf("lead's dashboard: %d %s", home.StatusCode, home.Body)
		}

		// Search is a POST: the number never appears in a URL, nor in the
		// answer.
		search := c.get("/customers")
		if !strings.Contains(search.Body, `method="post" action="/customers"`) {
			t.Fatal("search form is not a POST")
		}
		found := c.post("/customers", url.Values{"csrf_token": {search.token()}, "q": {"+34 612 345 612"}})
		m := resultRe.FindStringSubmatch(found.Body)
		if found.StatusCode != 200 || m == nil {
			t.Fatalf("search: %d %s", found.StatusCode, found.Body)
		}
		id := m[1]
		for _, want := range []string{"María G.", "m•••@example.com", "+34 ••• ••• •12"} {
			if !strings.Contains(html.UnescapeString(found.Body), want) {
				t.Errorf("search results lack the masked %q", want)
			}
		}
		view := c.get("/customers/" + id)
		body := html.UnescapeString(view.Body)
		if view.StatusCode != 200 || !strings.Contains(body, "María G.") || !strings.Contains(body, "+34 ••• ••• •12") {
			t.Fatalf("customer page: %d", view.StatusCode)
		}
		for _, page := range []string{found.Body, view.Body} {
			for _, v := range clear {
				if strings.Contains(html.UnescapeString(page), v) {
					t.Errorf("a masked page shows %q in clear", v)
				}
			}
		}
		opt := phoneOptionRe.FindStringSubmatch(view.Body)
		if opt == nil {
			t.Fatal("no phone to reveal")
		}
		reason := "customer called to confirm the number on ticket 4411"
		if r := c.post("/customers/"+id+"/reveal", url.Values{"csrf_token": {view.token()}, "field": {"phone:" + opt[1]}, "reason": {"because"}}); r.StatusCode != 400 || strings.Contains(r.Body, "612345612") {
			t.Errorf("reveal with a one-word reason: %d", r.StatusCode)
		}
		// The whole reveal request opens the profile once (as many field
		// decryptions as one reading of it) and writes one audit entry.
		opened := ts.env.Vault.FieldsOpened()
		if _, err := ts.env.Accounts.Profile(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		perProfile := ts.env.Vault.FieldsOpened() - opened
		entries := func() int {
			rows, err := ts.env.DB.Conn().AuditForTarget(t.Context(), resguardo.TargetCustomer, id, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			return len(rows)
		}
		entriesBefore := entries()
		opened = ts.env.Vault.FieldsOpened()
		shown := c.post("/customers/"+id+"/reveal", url.Values{"csrf_token": {view.token()}, "field": {"phone:" + opt[1]}, "reason": {reason}})
		if shown.StatusCode != 200 || !strings.Contains(html.UnescapeString(shown.Body), `<strong id="revealed-value">+34612345612</strong>`) {
			t.Fatalf("reveal: %d %s", shown.StatusCode, shown.Body)
		}
		if n := ts.env.Vault.FieldsOpened() - opened; n != perProfile {
			t.Errorf("the reveal request opened %d fields; one reading of the profile is %d", n, perProfile)
		}
		if n := entries() - entriesBefore; n != 1 {
			t.Errorf("the reveal request wrote %d audit entries about the customer, want 1", n)
		}
		if body := html.UnescapeString(shown.Body); !strings.Contains(body, "María G.") || strings.Contains(body, "maria.garcia@") {
			t.Error("the reveal page does not show the rest of the customer masked")
		}
		if cc := shown.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("revealed value sent with Cache-Control %q", cc)
		}
		if again := c.get("/customers/" + id); strings.Contains(again.Body, "612345612") {
			t.Error("the revealed value is shown again on the next visit")
		}

		// The customer sees the view, by role, in their access log.
		var log accessLogPage
		if r := ts.apiCall(t, "GET", "/api/v1/me/access-log", tk.AccessToken, nil, &log); r.StatusCode != 200 {
			t.Fatalf("access log: %d", r.StatusCode)
		}
		var viewed, revealedEntry bool
		for _, e := range log.Entries {
			if e.ActorKind == resguardo.ActorStaff && e.ActorRole == "lead" {
				viewed = viewed || e.Action == resguardo.ActCustomerViewed
				revealedEntry = revealedEntry || e.Action == resguardo.ActCustomerRevealed
			}
		}
		if !viewed || !revealedEntry {
			t.Errorf("customer's access log lacks the lead's view and reveal: %+v", log.Entries)
		}

		// Signing out ends the session on the server.
		old := c.cookie(staffSessionCookie)
		if r := c.post("/logout", url.Values{"csrf_token": {view.token()}}); r.StatusCode != 303 || r.Header.Get("Location") != "/login" {
			t.Fatalf("sign out: %d", r.StatusCode)
		}
		if _, err := ts.staffSvc.Session(t.Context(), old); err == nil {
			t.Error("the session outlived sign-out")
		}
	})
}

// Erasure is four-eyes on the pages: the lead who asked cannot approve it;
// a second lead can, and the customer is gone.
func TestStaffErasureNeedsSecondLead(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		tk := ts.signUp(t, "gone@example.com", "Ido Gone")
		id := customerID(t, ts, "gone@example.com")
		if r := ts.apiCall(t, "POST", "/api/v1/me/phones", tk.AccessToken, map[string]string{"number": "+34 612 345 678"}, nil); r.StatusCode != 201 {
			t.Fatalf("add phone: %d", r.StatusCode)
		}
		one, two := ts.console(t), ts.console(t)
		oneTok := one.signIn(ts.newStaff(t, "one@corp.example", resguardo.RoleLead))
		twoTok := two.signIn(ts.newStaff(t, "two@corp.example", resguardo.RoleLead))

		if r := one.post("/customers/"+id+"/erase", url.Values{"csrf_token": {oneTok}, "confirm": {"yes"}}); r.StatusCode != 303 || r.Header.Get("Location") != "/approvals?done=requested" {
			t.Fatalf("erasure request: %d → %q", r.StatusCode, r.Header.Get("Location"))
		}
		mine := one.get("/approvals")
		if approveRe.MatchString(mine.Body) {
			t.Error("the requester is offered an approve button for their own request")
		}
		list := two.get("/approvals")
		m := approveRe.FindStringSubmatch(list.Body)
		if m == nil {
			t.Fatalf("second lead sees no request to approve: %s", list.Body)
		}
		// The approver sees who asked by name and role, not by id.
		if !strings.Contains(list.Body, "Colleague one (lead)") {
			t.Errorf("the approvals page does not name the requester: %s", list.Body)
		}
		self := one.post("/approvals/"+m[1]+"/approve", url.Values{"csrf_token": {oneTok}})
		if self.StatusCode != 403 || !strings.Contains(self.Body, "a second person must") {
			t.Fatalf("self-approval: %d", self.StatusCode)
		}
		if ok, _ := ts.env.Accounts.Exists(t.Context(), id); !ok {
			t.Fatal("a self-approved erasure ran")
		}
		// Approving first shows what will be erased, and erases nothing.
		ask := two.post("/approvals/"+m[1]+"/approve", url.Values{"csrf_token": {twoTok}})
		if ask.StatusCode != 200 || !strings.Contains(ask.Body, `id="confirm-erase"`) || !strings.Contains(ask.Body, `<span id="erase-phones">1</span>`) {
			t.Fatalf("approval without confirmation: %d %s", ask.StatusCode, ask.Body)
		}
		if ok, _ := ts.env.Accounts.Exists(t.Context(), id); !ok {
			t.Fatal("an erasure ran before it was confirmed")
		}
		done := two.post("/approvals/"+m[1]+"/approve", url.Values{"csrf_token": {twoTok}, "confirm": {"erase"}})
		if done.StatusCode != 200 || !strings.Contains(done.Body, `id="erased"`) {
			t.Fatalf("second lead's approval: %d %s", done.StatusCode, done.Body)
		}
		if ok, _ := ts.env.Accounts.Exists(t.Context(), id); ok {
			t.Error("customer still there after an approved erasure")
		}
		if r := ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, nil); r.StatusCode != 401 {
			t.Errorf("the erased customer's token: %d", r.StatusCode)
		}
		if r := two.post("/approvals/"+m[1]+"/approve", url.Values{"csrf_token": {twoTok}}); r.StatusCode != 409 {
			t.Errorf("approved twice: %d", r.StatusCode)
		}
		// The audit trail names the staff who acted, too.
		auditor := ts.console(t)
		auditor.signIn(ts.newStaff(t, "audit@corp.example", resguardo.RoleAuditor))
		if trail := auditor.get("/audit").Body; !strings.Contains(trail, "Colleague two (lead)") {
			t.Errorf("the audit trail does not name the approver: %s", trail)
		}
	})
}

func customerID(t *testing.T, ts *testServer, email string) string {
	t.Helper()
	id, err := ts.env.Accounts.FindByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A lead's critical operation needs a password or code check in the last
// 5 minutes: after 6 minutes the lock sends them to /reauth and back, and
// then works.
func TestStaffStepUpForCriticalOperation(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		ts.signUp(t, "lockme@example.com", "Lock Me")
		id := customerID(t, ts, "lockme@example.com")
		c := ts.console(t)
		lead := ts.newStaff(t, "lead@corp.example", resguardo.RoleLead)
		tok := c.signIn(lead)
		ts.env.Clock.Advance(6 * time.Minute)

		r := c.post("/customers/"+id+"/lock", url.Values{"csrf_token": {tok}, "confirm": {"yes"}})
		back := "/customers/" + id
		if r.StatusCode != 303 || r.Header.Get("Location") != "/reauth?next="+url.QueryEscape(back) {
			t.Fatalf("stale lock: %d → %q", r.StatusCode, r.Header.Get("Location"))
		}
		if c, err := ts.env.Accounts.Profile(t.Context(), id); err != nil || c.Locked {
			t.Fatalf("locked without step-up (%v)", err)
		}
		form := c.get(r.Header.Get("Location"))
		if form.StatusCode != 200 || !strings.Contains(form.Body, `name="next" value="`+back+`"`) {
			t.Fatalf("reauth page: %d", form.StatusCode)
		}
		if r := c.post("/reauth", url.Values{"csrf_token": {form.token()}, "password": {"not the password at all"}, "next": {back}}); r.StatusCode != 400 {
			t.Errorf("reauth with a wrong password: %d", r.StatusCode)
		}
		before := c.cookie(staffSessionCookie)
		r = c.post("/reauth", url.Values{"csrf_token": {form.token()}, "password": {staffTestPassword}, "next": {back}})
		if r.StatusCode != 303 || r.Header.Get("Location") != back {
			t.Fatalf("reauth: %d → %q", r.StatusCode, r.Header.Get("Location"))
		}
		// Step-up, like sign-in, gives the session a new token.
		if after := c.cookie(staffSessionCookie); after == "" || after == before {
			t.Fatal("the staff session token was not replaced by step-up")
		}
		if _, err := ts.staffSvc.Session(t.Context(), before); err == nil {
			t.Error("the staff token from before step-up still works")
		}
		r = c.post("/customers/"+id+"/lock", url.Values{"csrf_token": {tok}, "confirm": {"yes"}})
		if r.StatusCode != 303 || r.Header.Get("Location") != back+"?done=locked" {
			t.Fatalf("lock after reauth: %d → %q", r.StatusCode, r.Header.Get("Location"))
		}
		if c, err := ts.env.Accounts.Profile(t.Context(), id); err != nil || !c.Locked {
			t.Errorf("not locked (%v)", err)
		}
		if _, _, err := ts.env.Accounts.Login(t.Context(), account.SignIn{Email: "lockme@example.com", Password: testPassword, Client: netip.MustParseAddr("192.0.2.9")}); resguardo.ErrorCode(err) != resguardo.EForbidden {
			t.Errorf("a locked customer signed in: %v", err)
		}
		// next never leaves the console.
		r = c.post("/reauth", url.Values{"csrf_token": {form.token()}, "password": {staffTestPassword}, "next": {"//evil.example/x"}})
		if r.StatusCode != 303 || r.Header.Get("Location") != "/" {
			t.Errorf("reauth with next=//evil.example: %d → %q", r.StatusCode, r.Header.Get("Location"))
		}
		// Step-up with a code gives a new token too.
		before = c.cookie(staffSessionCookie)
		if r := c.post("/reauth", url.Values{"csrf_token": {form.token()}, "code": {ts.code(t, lead)}, "next": {back}}); r.StatusCode != 303 {
			t.Fatalf("reauth with a code: %d", r.StatusCode)
		}
		if after := c.cookie(staffSessionCookie); after == "" || after == before {
			t.Error("the staff session token was not replaced by step-up with a code")
		}
	})
}

// The staff session cookie is HttpOnly and SameSite=Strict, Secure and
// __Host- prefixed under TLS, and never the customer site's cookie.
func TestStaffSessionCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		var opts []testOption
		prefix := ""
		if secure {
			opts, prefix = append(opts, withSecureTransport()), "__Host-"
		}
		ts := newTestServer(t, opts...)
		m := ts.newStaff(t, "cookie@corp.example", resguardo.RoleAgent)
		login := ts.do(t, ts.staff, "GET", "/login", nil)
		var guest *http.Cookie
		for _, ck := range login.Cookies() {
			if ck.Name == prefix+staffGuestCookie {
				guest = ck
			}
		}
		if guest == nil || guest.SameSite != http.SameSiteStrictMode || !guest.HttpOnly || guest.Secure != secure {
			t.Fatalf("secure=%v: staff pre-session cookie %+v", secure, guest)
		}
		form := url.Values{"csrf_token": {guest.Value}, "email": {m.Email}, "password": {staffTestPassword}}
		resp := ts.do(t, ts.staff, "POST", "/login", strings.NewReader(form.Encode()),
			"Content-Type", "application/x-www-form-urlencoded", "Cookie", guest.Name+"="+guest.Value)
		var session *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == prefix+staffSessionCookie {
				session = ck
			}
			if ck.Name == prefix+sessionCookie {
				t.Errorf("secure=%v: the staff console set the customer session cookie", secure)
			}
		}
		if resp.StatusCode != 303 || session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode ||
			session.Secure != secure || session.Path != "/" || session.Domain != "" {
			t.Errorf("secure=%v: staff session cookie %+v (status %d)", secure, session, resp.StatusCode)
		}
	}
}

// A state-changing form post from another site is refused and changes
// nothing, however valid the session and token.
func TestStaffCrossSitePostRefused(t *testing.T) {
	ts := newTestServer(t)
	ts.signUp(t, "victim@example.com", "Victim Customer")
	id := customerID(t, ts, "victim@example.com")
	c := ts.console(t)
	tok := c.signIn(ts.newStaff(t, "agent@corp.example", resguardo.RoleAgent))
	r := c.post("/customers/"+id+"/name", url.Values{"csrf_token": {tok}, "name": {"Changed By Evil"}}, "Sec-Fetch-Site", "cross-site")
	if r.StatusCode != 403 {
		t.Errorf("cross-site post: %d, want 403", r.StatusCode)
	}
	if r := c.post("/customers/"+id+"/name", url.Values{"csrf_token": {"wrong"}, "name": {"Changed By Evil"}}); r.StatusCode != 403 {
		t.Errorf("post with a wrong form token: %d, want 403", r.StatusCode)
	}
	if p, _ := ts.env.Accounts.Profile(t.Context(), id); p.Name != "Victim Customer" {
		t.Errorf("name changed to %q", p.Name)
	}
	if r := c.post("/customers/"+id+"/name", url.Values{"csrf_token": {tok}, "name": {"Victim C. Customer"}}); r.StatusCode != 303 {
		t.Errorf("same-site post: %d", r.StatusCode)
	}
}

// Administrators manage the team: an invitation waits for a second
// administrator and its link goes by mail (see staff_team_test.go); lead
// and admin roles go through a second administrator; nobody disables
// themselves. Auditors and administrators read the audit trail and see it
// verify.
func TestStaffTeamAndAudit(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		admin, second := ts.console(t), ts.console(t)
		adminTok := admin.signIn(ts.newStaff(t, "admin@corp.example", resguardo.RoleAdmin))
		secondTok := second.signIn(ts.newStaff(t, "admin2@corp.example", resguardo.RoleAdmin))

		if r := admin.post("/team", url.Values{"csrf_token": {adminTok}, "email": {"new@corp.example"}, "role": {"chief"}}); r.StatusCode != 400 {
			t.Errorf("inviting to an unknown role: %d, want 400", r.StatusCode)
		}
		if r := admin.post("/team", url.Values{"csrf_token": {adminTok}, "email": {"new@corp.example"}, "role": {"agent"}}); r.StatusCode != 303 ||
			r.Header.Get("Location") != "/team?done=invited" {
			t.Fatalf("invitation: %d → %q", r.StatusCode, r.Header.Get("Location"))
		}
		members, _ := ts.staffSvc.List(t.Context(), nil)
		var newID, meID string
		for _, mb := range members {
			switch mb.Email {
			case "new@corp.example":
				newID = mb.ID
			case "admin@corp.example":
				meID = mb.ID
			}
		}
		created := approveRe.FindStringSubmatch(second.get("/approvals").Body)
		if created == nil {
			t.Fatal("second administrator sees no invitation to approve")
		}
		if r := second.post("/approvals/"+created[1]+"/approve", url.Values{"csrf_token": {secondTok}}); r.StatusCode != 303 {
			t.Fatalf("invitation approval: %d", r.StatusCode)
		}
		if r := admin.post("/team/"+newID+"/grant", url.Values{"csrf_token": {adminTok}, "role": {"lead"}}); r.StatusCode != 303 {
			t.Fatalf("grant request: %d", r.StatusCode)
		}
		list := second.get("/approvals")
		m := approveRe.FindStringSubmatch(list.Body)
		if m == nil {
			t.Fatal("second administrator sees no grant to approve")
		}
		if r := second.post("/approvals/"+m[1]+"/approve", url.Values{"csrf_token": {secondTok}}); r.StatusCode != 303 {
			t.Fatalf("grant approval: %d", r.StatusCode)
		}
		members, _ = ts.staffSvc.List(t.Context(), nil)
		for _, mb := range members {
			if mb.ID == newID && mb.Role != resguardo.RoleLead {
				t.Errorf("granted role = %q", mb.Role)
			}
		}
		if r := admin.post("/team/"+meID+"/disable", url.Values{"csrf_token": {adminTok}}); r.StatusCode != 409 {
			t.Errorf("disabling oneself: %d, want 409", r.StatusCode)
		}
		if r := admin.post("/team/"+newID+"/disable", url.Values{"csrf_token": {adminTok}}); r.StatusCode != 303 {
			t.Errorf("disable: %d", r.StatusCode)
		}

		auditor := ts.console(t)
		audTok := auditor.signIn(ts.newStaff(t, "auditor@corp.example", resguardo.RoleAuditor))
		trail := auditor.get("/audit")
		if trail.StatusCode != 200 || !strings.Contains(trail.Body, resguardo.ActStaffRoleGranted) {
			t.Fatalf("audit page: %d", trail.StatusCode)
		}
		filtered := auditor.post("/audit", url.Values{"csrf_token": {audTok}, "action": {"staff.disabled"}})
		if filtered.StatusCode != 200 || !strings.Contains(filtered.Body, newID) || strings.Contains(filtered.Body, ">"+resguardo.ActStaffRoleGranted+"<") {
			t.Errorf("filtered audit page: %d", filtered.StatusCode)
		}
		// LIKE wildcards in the filter match themselves only.
		if wild := auditor.post("/audit", url.Values{"csrf_token": {audTok}, "action": {"staff_"}}); !strings.Contains(wild.Body, `class="muted"`) || strings.Contains(wild.Body, ">staff.") {
			t.Errorf("an underscore matched as a wildcard")
		}
		if bad := auditor.post("/audit", url.Values{"csrf_token": {audTok}, "action": {"x' OR '1'='1"}}); bad.StatusCode != 400 {
			t.Errorf("a filter with quotes: %d, want 400", bad.StatusCode)
		}
		verified := auditor.get("/audit/verify")
		if verified.StatusCode != 200 || !strings.Contains(verified.Body, `id="verify-result"`) || !strings.Contains(verified.Body, "The chain verifies") {
			t.Errorf("verify: %d", verified.StatusCode)
		}
	})
}

// Customer-supplied text reaches the console escaped, never as markup.
func TestStaffPagesEscapeCustomerText(t *testing.T) {
	ts := newTestServer(t)
	name := `<script>window.__pwned=1</script> <img src=x onerror="window.__pwned=1">`
	tk := ts.signUp(t, "xss@example.com", name)
	if r := ts.apiCall(t, "POST", "/api/v1/me/addresses", tk.AccessToken, map[string]string{"label": `"><svg onload=window.__pwned=1>`,
		"line1": `<img src=x onerror="window.__pwned=1">`, "city": `"><svg onload=window.__pwned=1>`, "country": "ES"}, nil); r.StatusCode != 201 {
		t.Fatalf("add address: %d %s", r.StatusCode, r.body)
	}
	id := customerID(t, ts, "xss@example.com")
	c := ts.console(t)
	tok := c.signIn(ts.newStaff(t, "agent@corp.example", resguardo.RoleAgent))
	for _, p := range []page{c.post("/customers", url.Values{"csrf_token": {tok}, "q": {"xss@example.com"}}), c.get("/customers/" + id),
		c.post("/customers/"+id+"/reveal", url.Values{"csrf_token": {tok}, "field": {"name"}, "reason": {"checking the name for the ticket"}})} {
		for _, raw := range []string{"<script>window", "<img src=x", "<svg onload"} {
			if strings.Contains(p.Body, raw) {
				t.Errorf("%s: customer markup %q reached the page unescaped", p.Request.URL.Path, raw)
			}
		}
		if !strings.Contains(p.Body, "&lt;script&gt;window.__pwned=1&lt;/script&gt;") {
			t.Errorf("%s: the escaped name is missing", p.Request.URL.Path)
		}
	}
}

// An export is four-eyes too: once a second lead approves it, the lead who
// asked downloads the customer's data as a JSON attachment, once.
func TestStaffExportDownloadedOnceAfterApproval(t *testing.T) {
	ts := newTestServer(t)
	ts.signUp(t, "export@example.com", "Export Me")
	id := customerID(t, ts, "export@example.com")
	one, two := ts.console(t), ts.console(t)
	oneTok := one.signIn(ts.newStaff(t, "one@corp.example", resguardo.RoleLead))
	twoTok := two.signIn(ts.newStaff(t, "two@corp.example", resguardo.RoleLead))
	if r := one.post("/customers/"+id+"/export", url.Values{"csrf_token": {oneTok}}); r.StatusCode != 303 {
		t.Fatalf("export request: %d", r.StatusCode)
	}
	m := approveRe.FindStringSubmatch(two.get("/approvals").Body)
	if m == nil {
		t.Fatal("no export request to approve")
	}
	if r := one.post("/approvals/"+m[1]+"/export", url.Values{"csrf_token": {oneTok}}); r.StatusCode != 409 {
		t.Errorf("download before approval: %d, want 409", r.StatusCode)
	}
	if r := two.post("/approvals/"+m[1]+"/approve", url.Values{"csrf_token": {twoTok}}); r.StatusCode != 303 {
		t.Fatalf("approve: %d", r.StatusCode)
	}
	if !strings.Contains(one.get("/approvals").Body, `action="/approvals/`+m[1]+`/export"`) {
		t.Error("the requester is not offered the download")
	}
	if r := two.post("/approvals/"+m[1]+"/export", url.Values{"csrf_token": {twoTok}}); r.StatusCode != 409 {
		t.Errorf("the approver downloaded the export: %d", r.StatusCode)
	}
	dl := one.post("/approvals/"+m[1]+"/export", url.Values{"csrf_token": {oneTok}})
	var doc exportDoc
	if dl.StatusCode != 200 || !strings.HasPrefix(dl.Header.Get("Content-Disposition"), "attachment;") || dl.Header.Get("Cache-Control") != "no-store" ||
		!strings.HasPrefix(dl.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("download: %d %v", dl.StatusCode, dl.Header)
	}
	if err := json.Unmarshal([]byte(dl.Body), &doc); err != nil || doc.Profile.Name != "Export Me" || doc.Profile.ID != id {
		t.Errorf("export document: %+v %v", doc.Profile, err)
	}
	if r := one.post("/approvals/"+m[1]+"/export", url.Values{"csrf_token": {oneTok}}); r.StatusCode != 409 {
		t.Errorf("second download: %d, want 409", r.StatusCode)
	}
}
