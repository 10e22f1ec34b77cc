package server

import (
	"fmt"
	"net/http"
	"strings"

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
		{site, "POST /account/phones/{id}/delete", Customer, ticked(s.handleAccountPhoneDelete())},
		{site, "POST /account/addresses", Customer, s.handleAccountAddressAdd()},
		{site, "POST /account/addresses/{id}", Customer, s.handleAccountAddressUpdate()},
		{site, "POST /account/addresses/{id}/delete", Customer, ticked(s.handleAccountAddressDelete())},
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
		{site, "POST /account/reauth/passkey/start", Customer, s.handlePasskeyReauthStart()},
		{site, "POST /account/reauth/passkey", Customer, s.handlePasskeyReauth()},
		{site, "POST /account/sessions/{id}/revoke", Customer, s.handleSessionRevoke()},
		{site, "POST /account/sessions/revoke-others", Customer, ticked(s.handleSessionsRevokeOthers())},
		{site, "GET /account/export", Customer.Recent(), s.handleAccountExport()},
		{site, "GET /account/delete", Customer.Recent(), s.handleAccountDeleteForm()},
		{site, "POST /account/delete", Customer.Recent(), s.handleAccountDelete()},
		{site, "POST /account/passkeys/start", Customer.Recent(), s.handlePasskeyAddStart()},
		{site, "POST /account/passkeys", Customer.Recent(), s.handlePasskeyAdd()},
		{site, "POST /account/passkeys/{id}/name", Customer.Recent(), s.handlePasskeyRename()},
		{site, "POST /account/passkeys/{id}/delete", Customer.Recent(), s.handlePasskeyRemove()},
		{site, "POST /login/passkey/start", Guest, s.handlePasskeySignInStart()},
		{site, "POST /login/passkey", Guest, s.handlePasskeySignIn()},
		{site, "POST /login/mfa/passkey/start", Guest, s.handlePasskeyMFAStart()},
		{site, "POST /login/mfa/passkey", Guest, s.handlePasskeyMFA()},

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
		{site, "POST /api/v1/me/webauthn/register/begin", Customer.Recent(), s.handleAPIPasskeyRegisterBegin()},
		{site, "POST /api/v1/me/webauthn/register/finish", Customer.Recent(), s.handleAPIPasskeyRegisterFinish()},
		{site, "GET /api/v1/me/webauthn/credentials", Customer, s.handleAPIPasskeys()},
		{site, "PATCH /api/v1/me/webauthn/credentials/{id}", Customer.Recent(), s.handleAPIPasskeyRename()},
		{site, "DELETE /api/v1/me/webauthn/credentials/{id}", Customer.Recent(), s.handleAPIPasskeyRemove()},
		{site, "POST /api/v1/me/webauthn/reauth/begin", Customer, s.handleAPIPasskeyReauthBegin()},
		{site, "POST /api/v1/me/webauthn/reauth/finish", Customer, s.handleAPIPasskeyReauthFinish()},
		{site, "POST /api/v1/auth/webauthn/login/begin", Guest, s.handleAPIPasskeySignInBegin()},
		{site, "POST /api/v1/auth/webauthn/login/finish", Guest, s.handleAPIPasskeySignInFinish()},
		{site, "POST /api/v1/auth/webauthn/mfa/begin", Guest, s.handleAPIPasskeyMFABegin()},
		{site, "POST /api/v1/auth/webauthn/mfa/finish", Guest, s.handleAPIPasskeyMFAFinish()},

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
		{staff, "POST /enrol/passkey/start", Guest, s.handleStaffEnrolPasskeyStart()},
		{staff, "POST /enrol/passkey", Guest, s.handleStaffEnrolPasskey()},
		{staff, "POST /login/passkey/start", StaffPending, s.handleStaffPasskeyStart(false)},
		{staff, "POST /login/passkey", StaffPending, s.handleStaffPasskeySignIn()},
		{staff, "POST /reauth/passkey/start", StaffSignedIn, s.handleStaffPasskeyStart(true)},
		{staff, "POST /reauth/passkey", StaffSignedIn, s.handleStaffPasskeyReauth()},
		{staff, "POST /passkeys/start", StaffSignedInRecent, s.handleStaffPasskeyAddStart()},
		{staff, "POST /passkeys", StaffSignedInRecent, s.handleStaffPasskeyAdd()},
		{staff, "GET /passkeys", StaffSignedInRecent, s.handleStaffPasskeys()},
		{staff, "POST /passkeys/{id}/name", StaffSignedInRecent, s.handleStaffPasskeyRename()},
		{staff, "POST /passkeys/{id}/delete", StaffSignedInRecent, s.handleStaffPasskeyRemove()},
		{staff, "GET /customers", StaffOp(staffsvc.OpSearch), s.handleStaffCustomers()},
		{staff, "POST /customers", StaffOp(staffsvc.OpSearch), s.handleStaffSearch()},
		{staff, "GET /customers/{id}", StaffOp(staffsvc.OpView), s.handleStaffCustomer()},
		{staff, "POST /customers/{id}/reveal", StaffOp(staffsvc.OpReveal), s.handleStaffReveal()},
		{staff, "POST /customers/{id}/name", StaffOp(staffsvc.OpEditName), s.handleStaffEditName()},
		{staff, "POST /customers/{id}/addresses", StaffOp(staffsvc.OpSaveAddress), s.handleStaffAddressAdd()},
		{staff, "POST /customers/{id}/addresses/{aid}", StaffOp(staffsvc.OpSaveAddress), s.handleStaffAddressUpdate()},
		{staff, "POST /customers/{id}/addresses/{aid}/delete", StaffOp(staffsvc.OpDeleteAddress), s.handleStaffAddressDelete()},
		{staff, "POST /customers/{id}/email", StaffOp(staffsvc.OpChangeEmail), s.handleStaffEmailChange()},
		{staff, "POST /customers/{id}/phones", StaffOp(staffsvc.OpAddPhone), s.handleStaffPhoneAdd()},
		{staff, "POST /customers/{id}/phones/{pid}/delete", StaffOp(staffsvc.OpDeletePhone), s.handleStaffPhoneDelete()},
		{staff, "POST /customers/{id}/mfa-reset", StaffOp(staffsvc.OpResetMFA), ticked(s.handleStaffMFAReset())},
		{staff, "POST /customers/{id}/lock", StaffOp(staffsvc.OpSetLocked), ticked(s.handleStaffLock(true))},
		{staff, "POST /customers/{id}/unlock", StaffOp(staffsvc.OpSetLocked), s.handleStaffLock(false)},
		{staff, "POST /customers/{id}/revoke-sessions", StaffOp(staffsvc.OpRevokeSessions), ticked(s.handleStaffRevokeSessions())},
		{staff, "POST /customers/{id}/export", StaffOp(staffsvc.OpRequestExport), s.handleStaffRequest(staffsvc.KindExport)},
		{staff, "POST /customers/{id}/erase", StaffOp(staffsvc.OpRequestErase), ticked(s.handleStaffRequest(staffsvc.KindErase))},
		{staff, "GET /approvals", StaffOp(staffsvc.OpApprovals), s.handleStaffApprovals()},
		{staff, "POST /approvals/{id}/approve", StaffOp(staffsvc.OpDecide), s.handleStaffDecide(true)},
		{staff, "POST /approvals/{id}/refuse", StaffOp(staffsvc.OpDecide), s.handleStaffDecide(false)},
		{staff, "POST /approvals/{id}/export", StaffOp(staffsvc.OpExportDownload), s.handleStaffExportDownload()},
		{staff, "GET /audit", StaffOp(staffsvc.OpAuditRead), s.handleStaffAudit()},
		{staff, "POST /audit", StaffOp(staffsvc.OpAuditRead), s.handleStaffAuditFilter()},
		{staff, "GET /audit/verify", StaffOp(staffsvc.OpAuditVerify), s.handleStaffAuditVerify()},
		{staff, "GET /team", StaffOp(staffsvc.OpTeamList), s.handleStaffTeam()},
		{staff, "POST /team", StaffOp(staffsvc.OpTeamInvite), s.handleStaffInvite()},
		{staff, "POST /team/{id}/disable", StaffOp(staffsvc.OpTeamDisable), s.handleStaffDisable()},
		{staff, "POST /team/{id}/grant", StaffOp(staffsvc.OpRequestGrant), s.handleStaffGrant()},
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
