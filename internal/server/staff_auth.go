package server

import (
	"net/http"
	"net/url"

	"github.com/resguardo/resguardo"
)

// Staff sign-in, in two steps: the password gives a session that waits for
// its code (only /login/code and /logout accept it); the code replaces it
// with a full session under a new token. Enrolment follows a single-use
// link: a password, then the TOTP secret (text and QR) and a first code.

// handleStaffLoginPost checks the password. Success ends any session this
// browser already had and starts one that waits for the code.
func (s *Server) handleStaffLoginPost() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		next, _ := localPath(r.PostFormValue("next"))
		token, _, err := s.staffSvc.SignIn(ctx, r.PostFormValue("email"), r.PostFormValue("password"))
		if err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			if d := resguardo.RetryAfter(err); d > 0 {
				w.Header().Set("Retry-After", retryAfterSeconds(d))
			}
			l := s.guestLayout(w, r, "staff.login.title")
			l.Form = form{values: formValues(r, "email"), Errors: keys}
			return s.render(w, r, status, pageStaffLogin, staffLoginView{layout: l, Next: next})
		}
		if old, err := s.staffSvc.Session(ctx, s.staffToken(r)); err == nil {
			_ = s.staffSvc.SignOut(ctx, old)
		}
		s.setStaffSessionCookie(w, token)
		target := "/login/code"
		if next != "" {
			target += "?next=" + url.QueryEscape(next)
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return nil
	}
}

func (s *Server) handleStaffCodeForm() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		next, _ := localPath(r.URL.Query().Get("next"))
		if staffPrincipal(r).MFADone {
			// #nosec G710 -- afterStaffLogin admits only local paths
			http.Redirect(w, r, afterStaffLogin(next), http.StatusSeeOther)
			return nil
		}
		return s.render(w, r, http.StatusOK, pageStaffCode, staffLoginView{layout: s.layoutFor(r, "staff.code.title"), Next: next})
	}
}

// handleStaffCode completes the sign-in with a TOTP code: the waiting
// session is replaced by a new one under a new token (no fixation).
func (s *Server) handleStaffCode() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		next := r.PostFormValue("next")
		p := staffPrincipal(r)
		if p.MFADone {
			// #nosec G710 -- afterStaffLogin admits only local paths
			http.Redirect(w, r, afterStaffLogin(next), http.StatusSeeOther)
			return nil
		}
		token, _, err := s.staffSvc.SecondFactor(r.Context(), p, r.PostFormValue("code"))
		if err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			if d := resguardo.RetryAfter(err); d > 0 {
				w.Header().Set("Retry-After", retryAfterSeconds(d))
			}
			l := s.layoutFor(r, "staff.code.title")
			l.Form = form{Errors: keys}
			local, _ := localPath(next)
			return s.render(w, r, status, pageStaffCode, staffLoginView{layout: l, Next: local})
		}
		s.setStaffSessionCookie(w, token)
		// #nosec G710 -- afterStaffLogin admits only local paths
		http.Redirect(w, r, afterStaffLogin(next), http.StatusSeeOther)
		return nil
	}
}

// handleStaffLogout ends the session (waiting for its code or not).
func (s *Server) handleStaffLogout() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.staffSvc.SignOut(r.Context(), staffPrincipal(r)); err != nil {
			return err
		}
		s.clearStaffSessionCookie(w)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	}
}

func (s *Server) handleStaffReauthForm() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		next, _ := localPath(r.URL.Query().Get("next"))
		return s.render(w, r, http.StatusOK, pageStaffReauth, reauthView{layout: s.layoutFor(r, "reauth.title"), Next: next})
	}
}

// handleStaffReauth is step-up: the password or a current code, then back
// to a local next (else the dashboard).
func (s *Server) handleStaffReauth() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		next, ok := localPath(r.PostFormValue("next"))
		if !ok {
			next = "/"
		}
		token, err := s.staffSvc.Reauthenticate(r.Context(), staffPrincipal(r), r.PostFormValue("password"), r.PostFormValue("code"))
		if err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			l := s.layoutFor(r, "reauth.title")
			l.Form = form{Errors: keys}
			return s.render(w, r, status, pageStaffReauth, reauthView{layout: l, Next: next})
		}
		if token != "" {
			s.setStaffSessionCookie(w, token) // the session's new token: the old one no longer works
		}
		// #nosec G710 -- next passed localPath above
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
}

// staffEnrolView is either step of enrolment: whom the link is for, then
// the secret to add to an authenticator app.
type staffEnrolView struct {
	layout
	Token  string
	Email  string
	Secret string
}

// handleStaffEnrolForm shows the password step of a live enrolment link.
// Following the link changes nothing.
func (s *Server) handleStaffEnrolForm() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		token := r.URL.Query().Get("token")
		l := s.guestLayout(w, r, "staff.enrol.title")
		status := http.StatusOK
		m, err := s.staffSvc.EnrolInfo(r.Context(), token)
		if err != nil {
			keys, st, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			l.Form, status = form{Errors: keys}, st
		}
		return s.render(w, r, status, pageStaffEnrol, staffEnrolView{layout: l, Token: token, Email: m.Email})
	}
}

// handleStaffEnrolPassword sets the password and shows the TOTP secret.
func (s *Server) handleStaffEnrolPassword() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		token := r.PostFormValue("token")
		en, err := s.staffSvc.EnrolPassword(r.Context(), token, r.PostFormValue("name"), r.PostFormValue("password"))
		if err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			l := s.guestLayout(w, r, "staff.enrol.title")
			l.Form = form{Errors: keys, values: formValues(r, "name")}
			m, _ := s.staffSvc.EnrolInfo(r.Context(), token)
			return s.render(w, r, status, pageStaffEnrol, staffEnrolView{layout: l, Token: token, Email: m.Email})
		}
		return s.render(w, r, http.StatusOK, pageStaffEnrolTOTP, staffEnrolView{layout: s.guestLayout(w, r, "staff.enrol.totp"), Token: token, Secret: en.Secret})
	}
}

// handleStaffEnrolQR serves the pending secret's QR code. GET, changes
// nothing; never cached (the pipeline's no-store).
func (s *Server) handleStaffEnrolQR() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		en, err := s.staffSvc.PendingEnrolment(r.Context(), r.URL.Query().Get("token"))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "no-store")
		_, err = w.Write(en.QRPNG)
		return err
	}
}

// handleStaffEnrolConfirm turns TOTP on with a first code; the link is
// spent and the staff member signs in.
func (s *Server) handleStaffEnrolConfirm() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		token := r.PostFormValue("token")
		if err := s.staffSvc.EnrolConfirm(r.Context(), token, r.PostFormValue("code")); err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			l := s.guestLayout(w, r, "staff.enrol.totp")
			l.Form = form{Errors: keys}
			en, perr := s.staffSvc.PendingEnrolment(r.Context(), token)
			if perr != nil { // the link itself is no longer good: start over
				return s.render(w, r, status, pageStaffEnrol, staffEnrolView{layout: l, Token: token})
			}
			return s.render(w, r, status, pageStaffEnrolTOTP, staffEnrolView{layout: l, Token: token, Secret: en.Secret})
		}
		return s.render(w, r, http.StatusOK, pageNotice, noticeView{layout: s.layoutFor(r, "staff.enrol.title"), MessageKey: "staff.enrol.done",
			LinkHref: "/login", LinkKey: "nav.login"})
	}
}
