package server

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
)

// Separation of duties on /team: one administrator alone can neither make
// a staff account that sees personal data nor disable another
// administrator, and an enrolment link goes only to the invitee's mailbox.

var (
	anyEnrolLinkRe = regexp.MustCompile(`/enrol\?token=|token=[A-Za-z0-9_%-]{20,}`)
	staffLinkRe    = regexp.MustCompile(`(https?://\S+/enrol\?token=)([A-Za-z0-9_%-]+)`)
)

// deliverStaffMail runs the staff outbox as the mail runner does, then
// returns every message in the maildir (customer mail is sent too).
func (ts *testServer) deliverStaffMail(t *testing.T) []testutil.Mail {
	t.Helper()
	if _, err := ts.staffSvc.SendMail(t.Context(), ts.env.Sender, 100); err != nil {
		t.Fatalf("send staff mail: %v", err)
	}
	return ts.env.DeliverMail(t)
}

// staffRow reads a staff member's row by e-mail.
func (ts *testServer) staffRow(t *testing.T, email string) sqlstore.StaffRow {
	t.Helper()
	row, err := ts.env.DB.Conn().StaffByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

// invite invites email as role on /team and checks the redirect.
func (c *console) invite(tok, email string, role resguardo.Role, wantDone string) {
	c.t.Helper()
	r := c.post("/team", url.Values{"csrf_token": {tok}, "email": {email}, "role": {string(role)}})
	if r.StatusCode != 303 || r.Header.Get("Location") != "/team?done="+wantDone {
		c.t.Fatalf("invite %s: %d → %q", role, r.StatusCode, r.Header.Get("Location"))
	}
}

// requestRow finds the id of the request whose row on /approvals names
// subject (the staff member's e-mail).
func requestFor(t *testing.T, approvals page, subject string) string {
	t.Helper()
	for _, row := range strings.Split(approvals.Body, "<tr id=\"req-")[1:] {
		if strings.Contains(row, subject) {
			return row[:26]
		}
	}
	t.Fatalf("no request about %s on the approvals page", subject)
	return ""
}

// An administrator alone cannot produce a working agent account: the
// invitation shows no link, sends no mail, leaves nothing that enrols or
// signs in, and its author cannot approve it.
func TestAdminAloneCannotProduceWorkingAgentAccount(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		admin := ts.console(t)
		tok := admin.signIn(ts.newStaff(t, "admin@corp.example", resguardo.RoleAdmin))
		const invitee = "agent@corp.example"

		admin.invite(tok, invitee, resguardo.RoleAgent, "invited")
		team := admin.get("/team")
		if team.StatusCode != 200 || !strings.Contains(team.Body, "awaiting a second administrator") || anyEnrolLinkRe.MatchString(team.Body) {
			t.Fatalf("team page after inviting: %d, awaiting=%v, link=%v", team.StatusCode,
				strings.Contains(team.Body, "awaiting a second administrator"), anyEnrolLinkRe.MatchString(team.Body))
		}
		approvals := admin.get("/approvals")
		if anyEnrolLinkRe.MatchString(approvals.Body) {
			t.Error("the approvals page shows an enrolment link")
		}
		reqID := requestFor(t, approvals, invitee)
		if !strings.Contains(approvals.Body, "New staff account") {
			t.Error("the approvals page does not say what the request is")
		}

		// No mail is queued or sent.
		if n, err := ts.env.DB.Conn().CountStaffOutbox(t.Context(), ts.staffRow(t, invitee).ID); err != nil || n != 0 {
			t.Errorf("staff outbox holds %d messages (%v) before approval", n, err)
		}
		if msgs := ts.deliverStaffMail(t); len(msgs) != 0 {
			t.Errorf("%d messages sent before approval, to %q", len(msgs), msgs[0].To)
		}

		// Whatever the database row or the pages hold, nothing enrols.
		row := ts.staffRow(t, invitee)
		if row.EnrolHash != nil || row.PasswordHash != "" || row.TOTPEnabled {
			t.Fatalf("the invitation has a link or credentials before approval: %+v", row.EnrolHash)
		}
		candidates := []string{"", row.ID, reqID, row.Email, tok, hex.EncodeToString(row.DataKey), base64.RawURLEncoding.EncodeToString(row.DataKey)}
		if len(row.DataKey) > 32 {
			candidates = append(candidates, base64.RawURLEncoding.EncodeToString(row.DataKey[:32]))
		}
		candidates = append(candidates, regexp.MustCompile(`[A-Za-z0-9_-]{20,}`).FindAllString(team.Body+approvals.Body, -1)...)
		// The form token is a valid one, so a refusal below is the link's,
		// not the CSRF check's.
		stranger := ts.console(t)
		gtok := stranger.get("/login").token()
		if gtok == "" {
			t.Fatal("no form token on the sign-in page")
		}
		for _, c := range candidates {
			form := stranger.get("/enrol?token=" + url.QueryEscape(c))
			if form.StatusCode != 400 || strings.Contains(form.Body, `name="password"`) {
				t.Errorf("GET /enrol with %q: %d, want 400 without the form", c, form.StatusCode)
			}
			if r := stranger.post("/enrol", url.Values{"csrf_token": {gtok}, "token": {c}, "name": {"A Stranger"}, "password": {staffTestPassword}}); r.StatusCode != 400 {
				t.Errorf("POST /enrol with %q: %d, want 400", c, r.StatusCode)
			}
			if r := stranger.get("/enrol/qr.png?token=" + url.QueryEscape(c)); r.StatusCode != 400 {
				t.Errorf("GET /enrol/qr.png with %q: %d, want 400", c, r.StatusCode)
			}
			if r := stranger.post("/enrol/confirm", url.Values{"csrf_token": {gtok}, "token": {c}, "code": {"123456"}}); r.StatusCode != 400 {
				t.Errorf("POST /enrol/confirm with %q: %d, want 400", c, r.StatusCode)
			}
		}
		if after := ts.staffRow(t, invitee); after.PasswordHash != "" || after.TOTPSealed != nil || after.TOTPEnabled {
			t.Fatal("an enrolment route changed the invitation")
		}
		for _, pw := range []string{"", staffTestPassword} {
			if r := stranger.post("/login", url.Values{"csrf_token": {gtok}, "email": {invitee}, "password": {pw}}); r.StatusCode == 303 {
				t.Errorf("the invitation signs in with password %q: → %q", pw, r.Header.Get("Location"))
			}
		}

		// Its author cannot approve it, on the page or in the service.
		if r := admin.post("/approvals/"+reqID+"/approve", url.Values{"csrf_token": {tok}}); r.StatusCode != 403 {
			t.Errorf("the inviting administrator approved their own invitation: %d", r.StatusCode)
		}
		if row := ts.staffRow(t, invitee); row.EnrolHash != nil {
			t.Fatal("the invitation got a link without a second administrator")
		}
		if msgs := ts.deliverStaffMail(t); len(msgs) != 0 {
			t.Errorf("%d messages sent without a second administrator", len(msgs))
		}
	})
}

// stepUp confirms the password on the page a stale request was sent to.
func (c *console) stepUp(reauthLocation string) {
	c.t.Helper()
	u, err := url.Parse(reauthLocation)
	if err != nil || u.Path != "/reauth" {
		c.t.Fatalf("not a step-up redirect: %q", reauthLocation)
	}
	form := c.get(reauthLocation)
	r := c.post("/reauth", url.Values{"csrf_token": {form.token()}, "password": {staffTestPassword}, "next": {u.Query().Get("next")}})
	if r.StatusCode != 303 {
		c.t.Fatalf("step-up: %d", r.StatusCode)
	}
}

// isStepUp reports a refusal that sends the caller to confirm their
// password first.
func isStepUp(r page) bool {
	return r.StatusCode == 303 && strings.HasPrefix(r.Header.Get("Location"), "/reauth?")
}

// After a second administrator's approval (with step-up) exactly one
// message goes out, to the invitee, with a working link; no page, redirect,
// log line or audit entry holds the link or its token; the invitee enrols
// through it and signs in.
func TestSecondAdminApprovalMailsLinkToInviteeOnly(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		admin, second := ts.console(t), ts.console(t)
		tok := admin.signIn(ts.newStaff(t, "admin@corp.example", resguardo.RoleAdmin))
		tok2 := second.signIn(ts.newStaff(t, "admin2@corp.example", resguardo.RoleAdmin))
		const invitee = "agent@corp.example"
		admin.invite(tok, invitee, resguardo.RoleAgent, "invited")
		reqID := requestFor(t, second.get("/approvals"), invitee)

		// A decision needs step-up, like any other.
		ts.env.Clock.Advance(6 * time.Minute)
		r := second.post("/approvals/"+reqID+"/approve", url.Values{"csrf_token": {tok2}})
		if !isStepUp(r) {
			t.Fatalf("a stale approval: %d → %q, want a step-up redirect", r.StatusCode, r.Header.Get("Location"))
		}
		if row := ts.staffRow(t, invitee); row.EnrolHash != nil {
			t.Fatal("approved without step-up")
		}
		second.stepUp(r.Header.Get("Location"))
		r = second.post("/approvals/"+reqID+"/approve", url.Values{"csrf_token": {tok2}})
		if r.StatusCode != 303 || r.Header.Get("Location") != "/approvals?done=approved" {
			t.Fatalf("approval: %d → %q", r.StatusCode, r.Header.Get("Location"))
		}
		var seen []string // every page and redirect either administrator got
		seen = append(seen, r.Header.Get("Location"), r.Body)
		for _, c := range []*console{admin, second} {
			for _, path := range []string{"/team", "/approvals", "/"} {
				p := c.get(path)
				if p.StatusCode != 200 || anyEnrolLinkRe.MatchString(p.Body) {
					t.Errorf("%s after approval: %d, shows a link: %v", path, p.StatusCode, anyEnrolLinkRe.MatchString(p.Body))
				}
				seen = append(seen, p.Body)
			}
		}

		msgs := ts.deliverStaffMail(t)
		if len(msgs) != 1 {
			t.Fatalf("%d messages, want exactly one", len(msgs))
		}
		if msgs[0].To != invitee && msgs[0].To != "<"+invitee+">" {
			t.Fatalf("the link went to %q", msgs[0].To)
		}
		m := staffLinkRe.FindStringSubmatch(msgs[0].Body)
		if m == nil || !strings.HasPrefix(m[1], "http://localhost:8081/enrol") {
			t.Fatalf("no enrolment link in the mail:\n%s", msgs[0].Body)
		}
		token, err := url.QueryUnescape(m[2])
		if err != nil || len(token) < 20 {
			t.Fatalf("link token %q: %v", m[2], err)
		}
		if again := ts.deliverStaffMail(t); len(again) != 1 {
			t.Errorf("the link was mailed again: %d messages", len(again))
		}
		team := admin.get("/team")
		if !strings.Contains(team.Body, "enrolment link sent by e-mail") {
			t.Error("the team page does not say the link was mailed")
		}
		seen = append(seen, team.Body)

		member := ts.console(t).enrolThroughPages(token, invitee, resguardo.RoleAgent)
		agent := ts.console(t)
		agent.signIn(member)
		if p := agent.get("/customers"); p.StatusCode != 200 {
			t.Errorf("the enrolled agent cannot search: %d", p.StatusCode)
		}

		var trail strings.Builder
		if err := ts.env.Audit.Export(t.Context(), &trail); err != nil {
			t.Fatal(err)
		}
		for _, action := range []string{resguardo.ActStaffInvited, resguardo.ActApprovalRequested, resguardo.ActApprovalApproved,
			resguardo.ActStaffCreated, resguardo.ActStaffEnrolLinkMailed, resguardo.ActStaffEnrolled} {
			if !strings.Contains(trail.String(), `"`+action+`"`) {
				t.Errorf("no %s entry in the audit trail", action)
			}
		}
		seen = append(seen, ts.logs.String(), trail.String())
		for i, text := range seen {
			for _, secret := range []string{token, m[2], url.QueryEscape(token)} {
				if strings.Contains(text, secret) {
					t.Errorf("text %d (page, redirect, log or audit trail) holds the enrolment token", i)
				}
			}
		}
	})
}

// Every /team change needs step-up. An agent is disabled by one
// administrator; an administrator only through a second one, whose
// approval ends the target's sessions at once.
func TestDisablingStaffNeedsStepUpAndAdminsASecondAdmin(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		a, b, c, x := ts.console(t), ts.console(t), ts.console(t), ts.console(t)
		tokA := a.signIn(ts.newStaff(t, "a@corp.example", resguardo.RoleAdmin))
		tokB := b.signIn(ts.newStaff(t, "b@corp.example", resguardo.RoleAdmin))
		tokC := c.signIn(ts.newStaff(t, "c@corp.example", resguardo.RoleAdmin))
		x.signIn(ts.newStaff(t, "x@corp.example", resguardo.RoleAgent))
		cID, xID := ts.staffRow(t, "c@corp.example").ID, ts.staffRow(t, "x@corp.example").ID

		ts.env.Clock.Advance(6 * time.Minute)
		stale := []struct {
			path string
			form url.Values
		}{
			{"/team/" + xID + "/disable", url.Values{}},
			{"/team/" + cID + "/disable", url.Values{}},
			{"/team", url.Values{"email": {"new@corp.example"}, "role": {"auditor"}}},
			{"/team/" + xID + "/grant", url.Values{"role": {"lead"}}},
		}
		var reauth string
		for _, s := range stale {
			s.form.Set("csrf_token", tokA)
			r := a.post(s.path, s.form)
			if !isStepUp(r) {
				t.Errorf("POST %s without step-up: %d → %q", s.path, r.StatusCode, r.Header.Get("Location"))
			}
			reauth = r.Header.Get("Location")
		}
		if ts.staffRow(t, "x@corp.example").Disabled || ts.staffRow(t, "c@corp.example").Disabled {
			t.Fatal("disabled without step-up")
		}
		if _, err := ts.env.DB.Conn().StaffByEmail(t.Context(), "new@corp.example"); err == nil {
			t.Fatal("invited without step-up")
		}
		if items, _ := ts.staffSvc.List(t.Context(), nil); len(items) != 4 {
			t.Fatalf("%d members", len(items))
		}
		a.stepUp(reauth)

		// An agent: one administrator, at once; their session ends.
		if r := a.post("/team/"+xID+"/disable", url.Values{"csrf_token": {tokA}}); r.StatusCode != 303 || r.Header.Get("Location") != "/team?done=disabled" {
			t.Fatalf("disable an agent: %d → %q", r.StatusCode, r.Header.Get("Location"))
		}
		if r := x.get("/"); r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Errorf("the disabled agent's session: %d → %q", r.StatusCode, r.Header.Get("Location"))
		}

		// An administrator: only a request.
		r := a.post("/team/"+cID+"/disable", url.Values{"csrf_token": {tokA}})
		if r.StatusCode != 303 || r.Header.Get("Location") != "/approvals?done=requested" {
			t.Fatalf("disable an administrator: %d → %q", r.StatusCode, r.Header.Get("Location"))
		}
		if ts.staffRow(t, "c@corp.example").Disabled {
			t.Fatal("one administrator disabled another alone")
		}
		if r := c.get("/"); r.StatusCode != 200 {
			t.Fatalf("the target's session ended on a mere request: %d", r.StatusCode)
		}
		approvals := a.get("/approvals")
		reqID := requestFor(t, approvals, "c@corp.example")
		if !strings.Contains(approvals.Body, "Disable an administrator") {
			t.Error("the approvals page does not say what the request is")
		}
		if r := a.post("/approvals/"+reqID+"/approve", url.Values{"csrf_token": {tokA}}); r.StatusCode != 403 {
			t.Errorf("the requester approved their own request: %d", r.StatusCode)
		}
		c.stepUp("/reauth?next=%2Fapprovals")
		if r := c.post("/approvals/"+reqID+"/approve", url.Values{"csrf_token": {tokC}}); r.StatusCode != 403 {
			t.Errorf("the target approved their own disabling: %d", r.StatusCode)
		}
		if ts.staffRow(t, "c@corp.example").Disabled {
			t.Fatal("disabled without a second administrator")
		}

		// The second administrator approves (after step-up): the target is
		// disabled and signed out.
		r = b.post("/approvals/"+reqID+"/approve", url.Values{"csrf_token": {tokB}})
		if !isStepUp(r) {
			t.Fatalf("a stale approval: %d → %q", r.StatusCode, r.Header.Get("Location"))
		}
		b.stepUp(r.Header.Get("Location"))
		if r := b.post("/approvals/"+reqID+"/approve", url.Values{"csrf_token": {tokB}}); r.StatusCode != 303 {
			t.Fatalf("approval: %d", r.StatusCode)
		}
		if !ts.staffRow(t, "c@corp.example").Disabled {
			t.Fatal("not disabled after the second administrator's approval")
		}
		if r := c.get("/"); r.StatusCode != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Errorf("the disabled administrator's session: %d → %q", r.StatusCode, r.Header.Get("Location"))
		}
	})
}
