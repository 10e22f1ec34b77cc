package server

import (
	"net/http"

	staffsvc "github.com/resguardo/resguardo/internal/staff"
)

// Staff passkey pages: enrolment with a passkey instead of TOTP, the
// second step of sign-in, and step-up. They share the passkey page and
// script with the customer site; the ceremony is bound to the enrolment
// link or to the staff session.

func (s *Server) handleStaffEnrolPasskeyStart() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		token := r.PostFormValue("token")
		c, err := s.staffSvc.BeginEnrolPasskey(r.Context(), token)
		if err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			l := s.guestLayout(w, r, "staff.enrol.title")
			l.Form = form{Errors: keys}
			return s.render(w, r, status, pageStaffEnrol, staffEnrolView{layout: l, Token: token})
		}
		return s.render(w, r, http.StatusOK, pagePasskey, passkeyView{layout: s.guestLayout(w, r, "passkey.add_title"), Mode: "create",
			Action: "/enrol/passkey", Ceremony: c.Token, Options: string(c.Options), LeadKey: "passkey.staff_lead", Token: token})
	}
}

func (s *Server) handleStaffEnrolPasskey() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		token := r.PostFormValue("token")
		if err := s.staffSvc.FinishEnrolPasskey(r.Context(), token, r.PostFormValue("ceremony"), []byte(r.PostFormValue("credential"))); err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			l := s.guestLayout(w, r, "staff.enrol.title")
			l.Form = form{Errors: passkeyErrorKeys(err, keys)}
			return s.render(w, r, status, pageStaffEnrol, staffEnrolView{layout: l, Token: token})
		}
		return s.render(w, r, http.StatusOK, pageNotice, noticeView{layout: s.layoutFor(r, "staff.enrol.title"), MessageKey: "staff.enrol.done",
			LinkHref: "/login", LinkKey: "nav.login"})
	}
}

// handleStaffPasskeyStart begins the second step of sign-in (stepUp
// false) or step-up (true) with a passkey.
func (s *Server) handleStaffPasskeyStart(stepUp bool) handler {
	action, title := "/login/passkey", "staff.code.title"
	if stepUp {
		action, title = "/reauth/passkey", "reauth.title"
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		next, _ := localPath(r.PostFormValue("next"))
		c, err := s.staffSvc.BeginPasskey(r.Context(), staffPrincipal(r), stepUp)
		if err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			l := s.layoutFor(r, title)
			l.Form = form{Errors: keys}
			if stepUp {
				return s.render(w, r, status, pageStaffReauth, reauthView{layout: l, Next: next})
			}
			return s.render(w, r, status, pageStaffCode, staffLoginView{layout: l, Next: next})
		}
		return s.render(w, r, http.StatusOK, pagePasskey, passkeyView{layout: s.layoutFor(r, title), Mode: "get",
			Action: action, Ceremony: c.Token, Options: string(c.Options), LeadKey: "passkey.mfa_lead", Next: next})
	}
}

func (s *Server) handleStaffPasskeySignIn() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		next, _ := localPath(r.PostFormValue("next"))
		token, _, err := s.staffSvc.SecondFactorPasskey(r.Context(), staffPrincipal(r), r.PostFormValue("ceremony"), []byte(r.PostFormValue("credential")))
		if err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			l := s.layoutFor(r, "staff.code.title")
			l.Form = form{Errors: passkeyErrorKeys(err, keys)}
			return s.render(w, r, status, pageStaffCode, staffLoginView{layout: l, Next: next})
		}
		s.setStaffSessionCookie(w, token)
		// #nosec G710 -- afterStaffLogin keeps local paths only
		http.Redirect(w, r, afterStaffLogin(next), http.StatusSeeOther)
		return nil
	}
}

func (s *Server) handleStaffPasskeyReauth() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		next, ok := localPath(r.PostFormValue("next"))
		if !ok {
			next = "/"
		}
		token, err := s.staffSvc.ReauthenticatePasskey(r.Context(), staffPrincipal(r), r.PostFormValue("ceremony"), []byte(r.PostFormValue("credential")))
		if err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			l := s.layoutFor(r, "reauth.title")
			l.Form = form{Errors: passkeyErrorKeys(err, keys)}
			return s.render(w, r, status, pageStaffReauth, reauthView{layout: l, Next: next})
		}
		s.setStaffSessionCookie(w, token)
		// #nosec G710 -- next passed localPath above
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
}

// handleStaffPasskeyAddStart begins adding a passkey for a signed-in staff
// member (step-up first).
func (s *Server) handleStaffPasskeyAddStart() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.staffSvc.BeginAddPasskey(r.Context(), staffPrincipal(r))
		if err != nil {
			return err
		}
		return s.render(w, r, http.StatusOK, pagePasskey, passkeyView{layout: s.layoutFor(r, "passkey.add_title"), Mode: "create",
			Action: "/passkeys", Ceremony: c.Token, Options: string(c.Options), LeadKey: "passkey.staff_lead"})
	}
}

func (s *Server) handleStaffPasskeyAdd() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.staffSvc.FinishAddPasskey(r.Context(), staffPrincipal(r), r.PostFormValue("ceremony"), []byte(r.PostFormValue("credential"))); err != nil {
			return err
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
}

// The member's own passkeys on the console (step-up first): listed, named
// and removed.

const pageStaffPasskeys = "staff_passkeys"

func init() { pageNames = append(pageNames, pageStaffPasskeys) }

type staffPasskeysView struct {
	layout
	Passkeys []staffsvc.PasskeyInfo
	Done     string // the notice after a change
}

var staffPasskeyNotices = map[string]string{"renamed": "done.passkey_renamed", "removed": "staff.passkeys.removed"}

func (s *Server) renderStaffPasskeys(w http.ResponseWriter, r *http.Request, status int, f form, done string) error {
	keys, err := s.staffSvc.Passkeys(r.Context(), staffPrincipal(r))
	if err != nil {
		return err
	}
	l := s.layoutFor(r, "staff.passkeys.title")
	l.Form = f
	return s.render(w, r, status, pageStaffPasskeys, staffPasskeysView{layout: l, Passkeys: keys, Done: done})
}

func (s *Server) handleStaffPasskeys() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.renderStaffPasskeys(w, r, http.StatusOK, form{}, staffPasskeyNotices[r.URL.Query().Get("done")])
	}
}

func (s *Server) handleStaffPasskeyRename() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.staffSvc.RenamePasskey(r.Context(), staffPrincipal(r), r.PathValue("id"), r.PostFormValue("name")); err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			return s.renderStaffPasskeys(w, r, status, form{Errors: keys}, "")
		}
		http.Redirect(w, r, "/passkeys?done=renamed", http.StatusSeeOther)
		return nil
	}
}

func (s *Server) handleStaffPasskeyRemove() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.staffSvc.RemovePasskey(r.Context(), staffPrincipal(r), r.PathValue("id")); err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			return s.renderStaffPasskeys(w, r, status, form{Errors: keys}, "")
		}
		http.Redirect(w, r, "/passkeys?done=removed", http.StatusSeeOther)
		return nil
	}
}
