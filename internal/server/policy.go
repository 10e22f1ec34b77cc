package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	staffsvc "github.com/resguardo/resguardo/internal/staff"
)

// Policy decides who may call a route. Every route in the table has one; the
// route wrapper runs it before anything else touches the request, so a
// handler never runs for a caller its policy refuses. Handlers add
// object-level checks on top; they never replace this one.
type Policy interface {
	// authorize returns the request to hand on (later carrying the
	// principal) or the error to answer with.
	authorize(s *Server, r *http.Request) (*http.Request, error)
	String() string
}

// errSignInRequired is what every policy that needs an identity answers to
// a caller without one.
var errSignInRequired = resguardo.Errorf(resguardo.EUnauthenticated, "Sign in to continue.")

// errCrossOrigin answers a state-changing request sent from another site.
var errCrossOrigin = resguardo.Errorf(resguardo.EForbidden, "Cross-origin requests are not allowed.")

type publicPolicy struct{}

// Public routes are open to anyone: health checks, static files, the home
// page, the API description.
var Public Policy = publicPolicy{}

func (publicPolicy) authorize(_ *Server, r *http.Request) (*http.Request, error) { return r, nil }
func (publicPolicy) String() string                                              { return "Public" }

type guestPolicy struct{}

// Guest routes are for callers who are not signed in: sign-in, registration,
// password reset. They are open to anyone. Their page forms carry a form
// token bound to a pre-session cookie, checked here for every
// state-changing request, the sign-in form included.
var Guest Policy = guestPolicy{}

func (guestPolicy) authorize(s *Server, r *http.Request) (*http.Request, error) {
	if !isJSONPath(r.URL.Path) && !safeMethod(r.Method) {
		expected := s.guestToken(r)
		if len(expected) < guestTokenLen {
			expected = "" // not one we issued: never matches
		}
		if err := checkFormToken(r, expected); err != nil {
			return nil, err
		}
	}
	return r, nil
}
func (guestPolicy) String() string { return "Guest" }

// CustomerPolicy admits a signed-in customer; Recent also requires a password
// or second-factor check in the last five minutes (step-up). WithProfile
// (API only) reads the customer's profile in the same statement as the
// token and hands it to the handler (profileFrom): one round trip.
type CustomerPolicy struct{ recent, profile bool }

// Customer admits a signed-in customer.
var Customer = CustomerPolicy{}

// Recent is Customer with step-up.
func (p CustomerPolicy) Recent() CustomerPolicy { p.recent = true; return p }

// WithProfile is Customer with the profile read along with the token.
func (p CustomerPolicy) WithProfile() CustomerPolicy { p.profile = true; return p }

// authorize admits a customer by bearer token on the API and by session
// cookie on pages: API routes never honour cookies, so a cross-site page
// cannot borrow a customer's browser to call them. On pages, every
// state-changing request must also carry the session's form token.
func (p CustomerPolicy) authorize(s *Server, r *http.Request) (*http.Request, error) {
	var pr account.Principal
	var err error
	if isJSONPath(r.URL.Path) {
		token, ok := bearerToken(r)
		if !ok {
			return nil, errSignInRequired
		}
		if p.profile {
			var c resguardo.Customer
			if pr, c, err = s.accounts.AppProfile(r.Context(), token); err == nil {
				r = r.WithContext(context.WithValue(r.Context(), profileKey{}, c))
			}
		} else {
			pr, err = s.accounts.AppPrincipal(r.Context(), token)
		}
	} else {
		pr, err = s.accounts.WebSession(r.Context(), s.sessionToken(r))
		if err == nil && !safeMethod(r.Method) {
			err = checkFormToken(r, pr.CSRFToken)
		}
	}
	if err != nil {
		return nil, err
	}
	if p.recent && !pr.Recent(s.now()) {
		return nil, errReauthRequired
	}
	requestInfoFrom(r.Context()).Actor = "customer:" + pr.CustomerID
	return r.WithContext(withPrincipal(r.Context(), pr)), nil
}

func (p CustomerPolicy) String() string {
	if p.recent {
		return "Customer.Recent"
	}
	return "Customer"
}

// StaffPolicy admits a staff member signed in on the staff listener with
// their password and a current code, whose role holds one of its
// permissions (any staff member when it names none), optionally with
// step-up. The session comes from the staff cookie only: a customer's
// session cookie is another cookie, read from another store, and never
// counts here. Every state-changing request must carry the session's form
// token. Second approvals (four-eyes) are not a policy: they are requests
// a second person decides on /approvals, enforced by the staff service.
type StaffPolicy struct {
	op      staffsvc.Op // the operation whose requirement this is ("" for none)
	anyOf   [3]resguardo.Permission
	recent  bool
	pending bool
}

// StaffOp admits staff as the staff service's operation op requires: the
// permissions and step-up are read from the service's one table
// (staffsvc.Requires), which the service checks again inside the
// operation, so the route and the service cannot disagree.
func StaffOp(op staffsvc.Op) StaffPolicy {
	req := staffsvc.Requires(op)
	p := StaffPolicy{op: op, recent: req.Recent}
	if len(req.AnyOf) > len(p.anyOf) {
		panic("StaffOp: too many permissions")
	}
	copy(p.anyOf[:], req.AnyOf)
	return p
}

// StaffSignedIn admits any signed-in staff member.
var StaffSignedIn = StaffPolicy{}

// StaffSignedInRecent admits any signed-in staff member with a recent
// step-up: for changes to one's own sign-in (adding a passkey), which are
// no staff operation on data; the service checks the step-up again.
var StaffSignedInRecent = StaffPolicy{recent: true}

// StaffPending admits a staff session whether or not its second factor was
// given yet: only for entering the code and for signing out. Every other
// staff route needs the code.
var StaffPending = StaffPolicy{pending: true}

var (
	errStaffForbidden = resguardo.Errorf(resguardo.EForbidden, "Your role does not allow this.")
	errStaffReauth    = resguardo.Errorf(resguardo.EReauthRequired, "Confirm your password or a code to continue.")
	// errStaffCodeRequired refuses a session that gave its password but not
	// yet its code; a page request is sent on to the code form.
	errStaffCodeRequired = resguardo.Errorf(resguardo.EUnauthenticated, "Enter the code from your authenticator app.")
)

// authorize admits a staff member by the staff session cookie, on the staff
// listener only.
func (p StaffPolicy) authorize(s *Server, r *http.Request) (*http.Request, error) {
	token := s.staffToken(r)
	if requestInfoFrom(r.Context()).Surface != string(staff) || s.staffSvc == nil || token == "" {
		return nil, errSignInRequired
	}
	pr, err := s.staffSvc.Session(r.Context(), token)
	if resguardo.ErrorCode(err) == resguardo.EUnauthenticated {
		return nil, errSignInRequired
	}
	if err == nil && !pr.MFADone && !p.pending {
		return nil, errStaffCodeRequired
	}
	if err != nil {
		return nil, err
	}
	if !safeMethod(r.Method) {
		if err := checkFormToken(r, pr.CSRFToken); err != nil {
			return nil, err
		}
	}
	if !p.admits(pr) {
		return nil, errStaffForbidden
	}
	if p.recent && !pr.Recent(s.now()) {
		return nil, errStaffReauth
	}
	requestInfoFrom(r.Context()).Actor = "staff:" + pr.StaffID
	pr.Lang = requestLang(r)
	return r.WithContext(withStaffPrincipal(r.Context(), pr)), nil
}

// admits asks the permission table (through the principal) for the
// policy's permissions.
func (p StaffPolicy) admits(pr staffsvc.Principal) bool {
	if p.pending {
		return true
	}
	named := false
	for _, perm := range p.anyOf {
		if perm == "" {
			continue
		}
		named = true
		if pr.Can(perm) {
			return true
		}
	}
	return !named && pr.MFADone
}

func (p StaffPolicy) String() string {
	if p.pending {
		return "StaffPending"
	}
	var perms []string
	for _, perm := range p.anyOf {
		if perm != "" {
			perms = append(perms, string(perm))
		}
	}
	s := "Staff(" + strings.Join(perms, "|") + ")"
	if p.op != "" {
		s = "StaffOp(" + string(p.op) + ": " + strings.Join(perms, "|") + ")"
	}
	if p.recent {
		s += ".Recent"
	}
	return s
}

// errReauthRequired asks for step-up.
var errReauthRequired = resguardo.Errorf(resguardo.EReauthRequired, "Confirm your password to continue (POST /api/v1/auth/reauth).")

type principalKey struct{}

func withPrincipal(ctx context.Context, p account.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalFrom returns the signed-in customer of a request that passed a
// Customer policy.
type profileKey struct{}

// profileFrom is the profile a WithProfile policy read with the token.
func profileFrom(ctx context.Context) (resguardo.Customer, bool) {
	c, ok := ctx.Value(profileKey{}).(resguardo.Customer)
	return c, ok
}

func principalFrom(ctx context.Context) (account.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(account.Principal)
	return p, ok
}

// bearerToken reads "Authorization: Bearer <token>".
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}
