package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/resguardo/resguardo"
	staffsvc "github.com/resguardo/resguardo/internal/staff"
)

// The staff console's cookies. They are not the customer site's: a
// customer's session cookie reaching the staff listener (cookies do not
// tell ports apart) is never read there, and the staff session lives in a
// store of its own.
const (
	staffSessionCookie = "staff_session"
	staffGuestCookie   = "staff_csrf" // pre-session cookie for the sign-in and enrolment forms
)

// The console's pages, each with its view struct below.
const (
	pageStaffCode      = "staff_code"
	pageStaffEnrol     = "staff_enrol"
	pageStaffEnrolTOTP = "staff_enrol_totp"
	pageStaffReauth    = "staff_reauth"
	pageStaffHome      = "staff_home"
	pageStaffCustomers = "staff_customers"
	pageStaffCustomer  = "staff_customer"
	pageStaffApprovals = "staff_approvals"
	pageStaffAudit     = "staff_audit"
	pageStaffTeam      = "staff_team"
)

func init() {
	pageNames = append(pageNames, pageStaffCode, pageStaffEnrol, pageStaffEnrolTOTP, pageStaffReauth, pageStaffHome,
		pageStaffCustomers, pageStaffCustomer, pageStaffApprovals, pageStaffAudit, pageStaffTeam)
}

func (s *Server) staffToken(r *http.Request) string { return s.cookieValue(r, staffSessionCookie) }

// setStaffSessionCookie hands the browser a staff session token, like the
// customer one but SameSite=Strict: the server ends the session after 15
// idle minutes or 8 hours.
func (s *Server) setStaffSessionCookie(w http.ResponseWriter, token string) {
	s.setAuthCookie(w, staffSessionCookie, token, http.SameSiteStrictMode)
}

func (s *Server) clearStaffSessionCookie(w http.ResponseWriter) {
	s.setAuthCookie(w, staffSessionCookie, "", http.SameSiteStrictMode)
}

type staffPrincipalKey struct{}

func withStaffPrincipal(ctx context.Context, p staffsvc.Principal) context.Context {
	return context.WithValue(ctx, staffPrincipalKey{}, p)
}

// staffPrincipalFrom returns the staff member of a request that passed a
// staff policy.
func staffPrincipalFrom(ctx context.Context) (staffsvc.Principal, bool) {
	p, ok := ctx.Value(staffPrincipalKey{}).(staffsvc.Principal)
	return p, ok
}

func staffPrincipal(r *http.Request) staffsvc.Principal {
	p, _ := staffPrincipalFrom(r.Context())
	return p
}

// StaffCan reports, for the console's templates, whether the signed-in
// staff member's role holds a permission: which links and forms to show.
// It decides nothing: every route's policy and every service call check
// again.
func (l layout) StaffCan(perm string) bool {
	return l.StaffRole.Can(resguardo.Permission(perm))
}

// StaffCanApprove reports whether the approvals page has anything for the
// signed-in staff member's role.
func (l layout) StaffCanApprove() bool {
	return l.StaffCan(string(resguardo.PermCustomerExport)) || l.StaffCan(string(resguardo.PermCustomerErase)) ||
		l.StaffCan(string(resguardo.PermStaffManage))
}

// staffReauthRedirect sends a console request that needs step-up to the
// confirmation page, and back afterwards: a GET to where it was going, a
// form post to the page the form was on (the customer, the approvals, the
// team), never to the post itself.
func staffReauthRedirect(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/reauth?next="+url.QueryEscape(staffReturnPath(r)), http.StatusSeeOther)
}

// staffReturnPath is the page a console request belongs to.
func staffReturnPath(r *http.Request) string {
	if r.Method == http.MethodGet {
		if p, ok := localPath(r.URL.RequestURI()); ok {
			return p
		}
		return "/"
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "customers":
		if p, ok := localPath("/customers/" + url.PathEscape(parts[1])); ok {
			return p
		}
	case parts[0] == "approvals" || parts[0] == "team" || parts[0] == "audit" || parts[0] == "customers":
		return "/" + parts[0]
	}
	return "/"
}

// afterStaffLogin is where a console sign-in lands: next if local, else
// the dashboard.
func afterStaffLogin(next string) string {
	if p, ok := localPath(next); ok {
		return p
	}
	return "/"
}
