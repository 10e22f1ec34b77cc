package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
)

// guestLayout is the layout of a guest form page, with this browser's
// pre-session form token (issued now if it has none).
func (s *Server) guestLayout(w http.ResponseWriter, r *http.Request, titleKey string) layout {
	l := s.layoutFor(r, titleKey)
	l.CSRF = s.ensureGuestToken(w, r)
	return l
}

// formFailure turns a client error into the message keys a form shows and
// its status; ok is false for errors that are not the client's (internal,
// unavailable), which go to the error adapter instead.
func formFailure(err error) (keys []formError, status int, ok bool) {
	code := resguardo.ErrorCode(err)
	switch code {
	case resguardo.EInvalid, resguardo.EConflict, resguardo.EUnauthenticated, resguardo.ERateLimited:
	default:
		return nil, 0, false
	}
	for _, f := range resguardo.ErrorFields(err) {
		key := fieldMessageKey(f)
		if _, known := messages["en"][key]; !known {
			key = "error.field.generic"
		}
		field := f.Field
		if notAnInput[field] {
			field = ""
		}
		keys = append(keys, formError{Field: field, Key: key})
	}
	if len(keys) == 0 {
		key := "error.link"
		switch code {
		case resguardo.ERateLimited:
			key = "error.429"
		case resguardo.EConflict:
			key = "error.conflict"
		case resguardo.EUnauthenticated:
			key = "login.failed"
		}
		keys = []formError{{Key: key}}
	}
	return keys, statusFor(code), true
}

// notAnInput are problem fields that name no input of a form (a limit on
// how many phones an account holds, a paging cursor): their message is
// shown in the summary without a link.
var notAnInput = map[string]bool{"phones": true, "addresses": true, "customer_id": true, "limit": true, "before": true}

// fieldMessageKey picks the message for one problem: one message per fault
// where a field can fail in more than one way (a new password too short,
// too long or too common), the field's message otherwise.
func fieldMessageKey(f resguardo.FieldProblem) string {
	if f.Field == "password" {
		switch {
		case strings.HasPrefix(f.Detail, "Use at least"):
			return "error.field.password_short"
		case strings.HasPrefix(f.Detail, "Use at most"):
			return "error.field.password_long"
		case strings.Contains(f.Detail, "too common"):
			return "error.field.password_common"
		case f.Detail == "is not correct":
			return "error.field.password_wrong"
		}
	}
	if f.Detail == "is required" {
		return "error.field.required"
	}
	return "error.field." + f.Field
}

// renameField moves problems about field from onto field to, for a form
// whose input carries another name than the one the domain reports.
func renameField(keys []formError, from, to string) []formError {
	for i := range keys {
		if keys[i].Field == from {
			keys[i].Field = to
		}
	}
	return keys
}

// formValues keeps the submitted values to put back, never passwords.
func formValues(r *http.Request, names ...string) map[string]string {
	v := map[string]string{}
	for _, n := range names {
		v[n] = r.PostFormValue(n)
	}
	return v
}

// deviceName summarises a browser for the session list, coarsely: browser
// family and system, nothing that identifies the machine.
func deviceName(ua string) string {
	browser, system := "Browser", ""
	for _, b := range []struct{ token, name string }{{"Edg/", "Edge"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"}} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range []struct{ token, name string }{{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Windows", "Windows"}, {"Mac OS", "macOS"}, {"Linux", "Linux"}} {
		if strings.Contains(ua, o.token) {
			system = " on " + o.name
			break
		}
	}
	return browser + system
}

func (s *Server) handleRegisterForm() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.render(w, r, http.StatusOK, pageRegister, homeView{s.guestLayout(w, r, "register.title")})
	}
}

func (s *Server) handleRegister() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		err := s.accounts.Register(r.Context(), account.RegisterInput{
			Email: r.PostFormValue("email"), Password: r.PostFormValue("password"), Name: r.PostFormValue("name"), Lang: requestLang(r),
			Client: s.clientIP(r),
		})
		if err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err
			}
			if d := resguardo.RetryAfter(err); d > 0 {
				w.Header().Set("Retry-After", retryAfterSeconds(d))
			}
			l := s.guestLayout(w, r, "register.title")
			l.Form = form{values: formValues(r, "name", "email"), Errors: keys}
			return s.render(w, r, status, pageRegister, homeView{l})
		}
		return s.render(w, r, http.StatusOK, pageNotice, noticeView{layout: s.layoutFor(r, "register.title"), MessageKey: "register.done"})
	}
}

func (s *Server) handleLoginForm() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		next, _ := localPath(r.URL.Query().Get("next"))
		return s.render(w, r, http.StatusOK, pageLogin, loginView{layout: s.guestLayout(w, r, "login.title"), Next: next})
	}
}

func (s *Server) handleLogin() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		id, mfa, err := s.accounts.Login(ctx, account.SignIn{Email: r.PostFormValue("email"), Password: r.PostFormValue("password"),
			Client: s.clientIP(r), DeviceToken: s.cookieValue(r, deviceCookie)})
		if err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err
			}
			if d := resguardo.RetryAfter(err); d > 0 {
				w.Header().Set("Retry-After", retryAfterSeconds(d))
			}
			next, _ := localPath(r.PostFormValue("next"))
			l := s.guestLayout(w, r, "login.title")
			l.Form = form{values: formValues(r, "email"), Errors: keys}
			return s.render(w, r, status, pageLogin, loginView{layout: l, Next: next})
		}
		if mfa {
			// The password was right; the session starts only after the
			// second factor. Until then the browser holds a short,
			// single-use challenge in a cookie of its own.
			challenge, err := s.accounts.StartMFA(ctx, id)
			if err != nil {
				return err
			}
			http.SetCookie(w, &http.Cookie{Name: s.cookieName(mfaCookie), Value: challenge, Path: "/", MaxAge: 300,
				HttpOnly: true, Secure: s.secureTransport, SameSite: http.SameSiteStrictMode}) // #nosec G124 -- Secure under HTTPS; plain HTTP only on loopback
			target := "/login/mfa"
			if next, ok := localPath(r.PostFormValue("next")); ok {
				target += "?next=" + url.QueryEscape(next)
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return nil
		}
		return s.beginWebSession(w, r, id, r.PostFormValue("next"))
	}
}

// beginWebSession signs a browser in after every factor was given: a
// session this browser already had ends, and the new sign-in gets a new
// token, never an old or planted one.
func (s *Server) beginWebSession(w http.ResponseWriter, r *http.Request, customerID, next string) error {
	ctx := r.Context()
	if old, err := s.accounts.WebSession(ctx, s.sessionToken(r)); err == nil {
		_ = s.accounts.Logout(ctx, old)
	}
	token, _, err := s.accounts.StartWebSession(ctx, customerID, deviceName(r.UserAgent()), requestLang(r))
	if err != nil {
		return err
	}
	s.setSessionCookie(w, token)
	// This browser is now known to the account: its later sign-ins are
	// exempt from the limits an attacker can trip (account.RememberDevice).
	// Failing to remember it must not fail the sign-in.
	if device, err := s.accounts.RememberDevice(ctx, customerID, s.cookieValue(r, deviceCookie)); err == nil {
		s.setDeviceCookie(w, device)
	} else {
		s.log.WarnContext(ctx, "known device not recorded", "err", err)
	}
	// #nosec G710 -- afterLogin admits only local paths (localPath, fuzzed)
	http.Redirect(w, r, afterLogin(next), http.StatusSeeOther)
	return nil
}

// mfaCookie holds the sign-in challenge between password and code.
const mfaCookie = "mfa"

func (s *Server) handleMFAForm() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		next, _ := localPath(r.URL.Query().Get("next"))
		return s.render(w, r, http.StatusOK, pageMFA, loginView{layout: s.guestLayout(w, r, "mfa.title"), Next: next})
	}
}

func (s *Server) handleMFA() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		challenge := ""
		if c, err := r.Cookie(s.cookieName(mfaCookie)); err == nil {
			challenge = c.Value
		}
		id, err := s.accounts.CompleteMFA(r.Context(), challenge, r.PostFormValue("code"))
		if err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err
			}
			if resguardo.ErrorCode(err) == resguardo.EUnauthenticated {
				keys = []formError{{Key: "mfa.expired"}}
			}
			next, _ := localPath(r.PostFormValue("next"))
			l := s.guestLayout(w, r, "mfa.title")
			l.Form = form{Errors: keys}
			return s.render(w, r, status, pageMFA, loginView{layout: l, Next: next})
		}
		http.SetCookie(w, &http.Cookie{Name: s.cookieName(mfaCookie), Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, Secure: s.secureTransport, SameSite: http.SameSiteStrictMode}) // #nosec G124 -- as above
		return s.beginWebSession(w, r, id, r.PostFormValue("next"))
	}
}

func (s *Server) handleLogout() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.accounts.Logout(r.Context(), principal(r)); err != nil {
			return err
		}
		s.clearSessionCookie(w)
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
}

// tokenPage shows a confirmation form for a mailed link: following a link
// (GET) changes nothing; the button (POST) does.
func (s *Server) tokenPage(page, titleKey string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.render(w, r, http.StatusOK, page, tokenFormView{layout: s.guestLayout(w, r, titleKey), Token: r.URL.Query().Get("token")})
	}
}

func (s *Server) handleVerifyEmail() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.accounts.VerifyEmail(r.Context(), r.PostFormValue("token"), requestLang(r)); err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err
			}
			l := s.guestLayout(w, r, "verify.title")
			l.Form = form{Errors: keys}
			return s.render(w, r, status, pageVerify, tokenFormView{layout: l})
		}
		return s.render(w, r, http.StatusOK, pageNotice, noticeView{layout: s.layoutFor(r, "verify.title"), MessageKey: "verify.done", LinkHref: "/account", LinkKey: "nav.account"})
	}
}

func (s *Server) handleForgotForm() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.render(w, r, http.StatusOK, pageForgot, homeView{s.guestLayout(w, r, "forgot.title")})
	}
}

func (s *Server) handleForgot() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.accounts.ForgotPassword(r.Context(), r.PostFormValue("email"), requestLang(r), s.clientIP(r)); err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err
			}
			if d := resguardo.RetryAfter(err); d > 0 {
				w.Header().Set("Retry-After", retryAfterSeconds(d))
			}
			l := s.guestLayout(w, r, "forgot.title")
			l.Form = form{values: formValues(r, "email"), Errors: keys}
			return s.render(w, r, status, pageForgot, homeView{l})
		}
		return s.render(w, r, http.StatusOK, pageNotice, noticeView{layout: s.layoutFor(r, "forgot.title"), MessageKey: "forgot.done"})
	}
}

func (s *Server) handleReset() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		token := r.PostFormValue("token")
		if err := s.accounts.ResetPassword(r.Context(), token, r.PostFormValue("password"), requestLang(r)); err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err
			}
			l := s.guestLayout(w, r, "reset.title")
			l.Form = form{Errors: keys}
			return s.render(w, r, status, pageReset, tokenFormView{layout: l, Token: token})
		}
		return s.render(w, r, http.StatusOK, pageNotice, noticeView{layout: s.layoutFor(r, "reset.title"), MessageKey: "reset.done", LinkHref: "/login", LinkKey: "nav.login"})
	}
}

// loginRedirect sends a signed-out visitor of a page to sign in and back.
func loginRedirect(w http.ResponseWriter, r *http.Request) { redirectBack(w, r, "/login") }

// codeRedirect sends a staff member who gave a password but not yet a code
// to the code form, and back.
func codeRedirect(w http.ResponseWriter, r *http.Request) { redirectBack(w, r, "/login/code") }

// redirectBack redirects to target with the requested page as next.
func redirectBack(w http.ResponseWriter, r *http.Request, target string) {
	if p, ok := localPath(r.URL.RequestURI()); ok && p != "/" {
		target += "?next=" + url.QueryEscape(p)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
