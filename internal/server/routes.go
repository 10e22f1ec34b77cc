package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/resguardo/resguardo"
	staffsvc "github.com/resguardo/resguardo/internal/staff"
)

// surface names the listener a route is served on.
type surface string

const (
	site  surface = "site"  // customer web site and API
	staff surface = "staff" // staff console, its own listener
)

// handler is what every route runs; the returned error is answered by the
// one error adapter of the route's surface (problem+json or an error page).
type handler func(w http.ResponseWriter, r *http.Request) error

// route is one row of the route table.
type route struct {
	surface surface
	pattern string // Go ServeMux pattern with method: "GET /path/{id}"
	policy  Policy
	handler handler
}

// routes is the one route table. Every row names its listener, method,
// path, access policy and handler; a row without a policy cannot be
// registered (register panics at start).
func (s *Server) routes() []route {
	return []route{
		// Both listeners.
		{site, "GET /healthz", Public, s.handleHealthz()},
		{site, "GET /readyz", Public, s.handleReadyz()},
		{site, "GET /static/{file}", Public, s.handleStatic()},
		{staff, "GET /healthz", Public, s.handleHealthz()},
		{staff, "GET /readyz", Public, s.handleReadyz()},
		{staff, "GET /static/{file}", Public, s.handleStatic()},

		// Customer site.
		{site, "GET /{$}", Public, s.handleHome()},
		{site, "GET /api/v1/openapi.json", Public, s.handleOpenAPI()},

		// Customer pages (cookie sessions; every form carries its token).
		{site, "GET /register", Guest, s.handleRegisterForm()},
		{site, "POST /register", Guest, s.handleRegister()},
		{site, "GET /login", Guest, s.handleLoginForm()},
		{site, "POST /login", Guest, s.handleLogin()},
		{site, "POST /logout", Customer, s.handleLogout()},
		{site, "GET /verify-email", Guest, s.tokenPage(pageVerify, "verify.title")},
		{site, "POST /verify-email", Guest, s.handleVerifyEmail()},
		{site, "GET /password/forgot", Guest, s.handleForgotForm()},
		{site, "POST /password/forgot", Guest, s.handleForgot()},
		{site, "GET /password/reset", Guest, s.tokenPage(pageReset, "reset.title")},
		{site, "POST /password/reset", Guest, s.handleReset()},
		{site, "GET /account", Customer, s.handleAccount()},
		{site, "POST /account/name", Customer, s.handleAccountName()},
		{site, "POST /account/phones", Customer, s.handleAccountPhoneAdd()},
		{site, "POST /account/phones/{id}/delete", Customer, s.handleAccountPhoneDelete()},
		{site, "POST /account/addresses", Customer, s.handleAccountAddressAdd()},
		{site, "POST /account/addresses/{id}", Customer, s.handleAccountAddressUpdate()},
		{site, "POST /account/addresses/{id}/delete", Customer, s.handleAccountAddressDelete()},
		{site, "GET /account/security", Customer, s.handleSecurity()},
		{site, "GET /account/contact", Customer, s.handleAccount()},
		{site, "GET /account/activity", Customer, s.handleAccount()},
		{site, "GET /account/privacy", Customer, s.handleAccount()},
		{site, "POST /account/password", Customer.Recent(), s.handleChangePassword()},
		{site, "POST /account/email", Customer.Recent(), s.handleEmailChange()},
		{site, "GET /account/reauth", Customer, s.handleReauthForm()},
		{site, "GET /login/mfa", Guest, s.handleMFAForm()},
		{site, "POST /login/mfa", Guest, s.handleMFA()},
		{site, "POST /account/totp", Customer.Recent(), s.handleTOTPSetup()},
		{site, "GET /account/totp/qr.png", Customer, s.handleTOTPQR()},
		{site, "POST /account/totp/confirm", Customer.Recent(), s.handleTOTPConfirm()},
		{site, "POST /account/totp/remove", Customer.Recent(), s.handleTOTPRemove()},
		{site, "POST /account/reauth", Customer, s.handleReauth()},
		{site, "POST /account/sessions/{id}/revoke", Customer, s.handleSessionRevoke()},
		{site, "POST /account/sessions/revoke-others", Customer, s.handleSessionsRevokeOthers()},
		{site, "GET /account/export", Customer.Recent(), s.handleAccountExport()},
		{site, "GET /account/delete", Customer.Recent(), s.handleAccountDeleteForm()},
		{site, "POST /account/delete", Customer.Recent(), s.handleAccountDelete()},

		// Customer API (bearer tokens; cookies are never honoured here).
		{site, "POST /api/v1/auth/register", Guest, s.handleAPIRegister()},
		{site, "POST /api/v1/auth/login", Guest, s.handleAPILogin()},
		{site, "POST /api/v1/auth/refresh", Guest, s.handleAPIRefresh()},
		{site, "POST /api/v1/auth/logout", Customer, s.handleAPILogout()},
		{site, "POST /api/v1/auth/verify-email", Guest, s.handleAPIVerifyEmail()},
		{site, "POST /api/v1/auth/password/forgot", Guest, s.handleAPIForgotPassword()},
		{site, "POST /api/v1/auth/password/reset", Guest, s.handleAPIResetPassword()},
		{site, "GET /api/v1/me", Customer.WithProfile(), s.handleAPIMe()},
		{site, "PATCH /api/v1/me", Customer, s.handleAPIMePatch()},
		{site, "POST /api/v1/me/phones", Customer, s.handleAPIPhoneAdd()},
		{site, "DELETE /api/v1/me/phones/{id}", Customer, s.handleAPIPhoneDelete()},
		{site, "POST /api/v1/me/addresses", Customer, s.handleAPIAddressAdd()},
		{site, "PUT /api/v1/me/addresses/{id}", Customer, s.handleAPIAddressPut()},
		{site, "DELETE /api/v1/me/addresses/{id}", Customer, s.handleAPIAddressDelete()},
		{site, "POST /api/v1/auth/reauth", Customer, s.handleAPIReauth()},
		{site, "POST /api/v1/auth/mfa", Guest, s.handleAPIMFA()},
		{site, "POST /api/v1/me/mfa/totp", Customer.Recent(), s.handleAPITOTPBegin()},
		{site, "POST /api/v1/me/mfa/totp/confirm", Customer.Recent(), s.handleAPITOTPConfirm()},
		{site, "DELETE /api/v1/me/mfa/totp", Customer.Recent(), s.handleAPITOTPRemove()},
		{site, "POST /api/v1/me/mfa/recovery-codes", Customer.Recent(), s.handleAPIRecoveryCodes()},
		{site, "POST /api/v1/me/password", Customer.Recent(), s.handleAPIChangePassword()},
		{site, "POST /api/v1/me/email", Customer.Recent(), s.handleAPIEmailChange()},
		{site, "GET /api/v1/me/sessions", Customer, s.handleAPISessions()},
		{site, "DELETE /api/v1/me/sessions", Customer, s.handleAPISessionsRevokeOthers()},
		{site, "DELETE /api/v1/me/sessions/{id}", Customer, s.handleAPISessionRevoke()},
		{site, "GET /api/v1/me/access-log", Customer, s.handleAPIAccessLog()},
		{site, "GET /api/v1/me/export", Customer.Recent(), s.handleAPIExport()},
		{site, "DELETE /api/v1/me", Customer.Recent(), s.handleAPIErase()},

		// Staff console (its own listener and session cookie; every form
		// carries its token; nothing personal in a URL: search is a POST).
		{staff, "GET /{$}", StaffSignedIn, s.handleStaffRoot()},
		{staff, "GET /login", Guest, s.handleStaffLogin()},
		{staff, "POST /login", Guest, s.handleStaffLoginPost()},
		{staff, "GET /login/code", StaffPending, s.handleStaffCodeForm()},
		{staff, "POST /login/code", StaffPending, s.handleStaffCode()},
		{staff, "POST /logout", StaffPending, s.handleStaffLogout()},
		{staff, "GET /enrol", Guest, s.handleStaffEnrolForm()},
		{staff, "POST /enrol", Guest, s.handleStaffEnrolPassword()},
		{staff, "GET /enrol/qr.png", Guest, s.handleStaffEnrolQR()},
		{staff, "POST /enrol/confirm", Guest, s.handleStaffEnrolConfirm()},
		{staff, "GET /reauth", StaffSignedIn, s.handleStaffReauthForm()},
		{staff, "POST /reauth", StaffSignedIn, s.handleStaffReauth()},
		{staff, "GET /customers", Staff(resguardo.PermCustomerSearch), s.handleStaffCustomers()},
		{staff, "POST /customers", Staff(resguardo.PermCustomerSearch), s.handleStaffSearch()},
		{staff, "GET /customers/{id}", Staff(resguardo.PermCustomerSearch), s.handleStaffCustomer()},
		{staff, "POST /customers/{id}/reveal", Staff(resguardo.PermCustomerReveal), s.handleStaffReveal()},
		{staff, "POST /customers/{id}/name", Staff(resguardo.PermCustomerEdit), s.handleStaffEditName()},
		{staff, "POST /customers/{id}/addresses", Staff(resguardo.PermCustomerEdit), s.handleStaffAddressAdd()},
		{staff, "POST /customers/{id}/addresses/{aid}", Staff(resguardo.PermCustomerEdit), s.handleStaffAddressUpdate()},
		{staff, "POST /customers/{id}/addresses/{aid}/delete", Staff(resguardo.PermCustomerEdit), s.handleStaffAddressDelete()},
		{staff, "POST /customers/{id}/email", Staff(resguardo.PermCustomerCritical).Recent(), s.handleStaffEmailChange()},
		{staff, "POST /customers/{id}/phones", Staff(resguardo.PermCustomerCritical).Recent(), s.handleStaffPhoneAdd()},
		{staff, "POST /customers/{id}/phones/{pid}/delete", Staff(resguardo.PermCustomerCritical).Recent(), s.handleStaffPhoneDelete()},
		{staff, "POST /customers/{id}/mfa-reset", Staff(resguardo.PermCustomerCritical).Recent(), s.handleStaffMFAReset()},
		{staff, "POST /customers/{id}/lock", Staff(resguardo.PermCustomerCritical).Recent(), s.handleStaffLock(true)},
		{staff, "POST /customers/{id}/unlock", Staff(resguardo.PermCustomerCritical).Recent(), s.handleStaffLock(false)},
		{staff, "POST /customers/{id}/revoke-sessions", Staff(resguardo.PermCustomerCritical).Recent(), s.handleStaffRevokeSessions()},
		{staff, "POST /customers/{id}/export", Staff(resguardo.PermCustomerExport).Recent(), s.handleStaffRequest(staffsvc.KindExport)},
		{staff, "POST /customers/{id}/erase", Staff(resguardo.PermCustomerErase).Recent(), s.handleStaffRequest(staffsvc.KindErase)},
		{staff, "GET /approvals", StaffAny(resguardo.PermCustomerExport, resguardo.PermCustomerErase, resguardo.PermStaffManage), s.handleStaffApprovals()},
		{staff, "POST /approvals/{id}/approve", StaffAny(resguardo.PermCustomerExport, resguardo.PermCustomerErase, resguardo.PermStaffManage).Recent(), s.handleStaffDecide(true)},
		{staff, "POST /approvals/{id}/refuse", StaffAny(resguardo.PermCustomerExport, resguardo.PermCustomerErase, resguardo.PermStaffManage).Recent(), s.handleStaffDecide(false)},
		{staff, "POST /approvals/{id}/export", Staff(resguardo.PermCustomerExport).Recent(), s.handleStaffExportDownload()},
		{staff, "GET /audit", Staff(resguardo.PermAuditRead), s.handleStaffAudit()},
		{staff, "POST /audit", Staff(resguardo.PermAuditRead), s.handleStaffAuditFilter()},
		{staff, "GET /audit/verify", Staff(resguardo.PermAuditRead), s.handleStaffAuditVerify()},
		{staff, "GET /team", Staff(resguardo.PermStaffManage), s.handleStaffTeam()},
		{staff, "POST /team", Staff(resguardo.PermStaffManage).Recent(), s.handleStaffInvite()},
		{staff, "POST /team/{id}/disable", Staff(resguardo.PermStaffManage).Recent(), s.handleStaffDisable()},
		{staff, "POST /team/{id}/grant", Staff(resguardo.PermStaffManage).Recent(), s.handleStaffGrant()},
	}
}

// register adds rt to mux behind its policy. It panics on a row without a
// policy or handler: deny by default, decided at start, not per request.
// An /api/v1 row is bound here to its OpenAPI operation, op, which build
// has compiled (nil for other rows).
func (s *Server) register(mux *http.ServeMux, rt route, op *apiOperation) {
	if rt.policy == nil {
		panic(fmt.Sprintf("route %s %q has no access policy", rt.surface, rt.pattern))
	}
	if rt.handler == nil {
		panic(fmt.Sprintf("route %s %q has no handler", rt.surface, rt.pattern))
	}
	if !strings.Contains(rt.pattern, " /") {
		panic(fmt.Sprintf("route %s %q has no method", rt.surface, rt.pattern))
	}
	if isAPIPattern(rt.pattern) && op == nil {
		panic(fmt.Sprintf("route %s %q has no OpenAPI operation", rt.surface, rt.pattern))
	}
	mux.Handle(rt.pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requestInfoFrom(r.Context()).Route = rt.pattern
		r2, err := rt.policy.authorize(s, r)
		if err == nil && op != nil {
			r2, err = s.api.validate(r2, op)
		}
		if err == nil {
			err = rt.handler(w, r2)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	}))
}
