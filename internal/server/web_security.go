package server

import (
	"net/http"
	"net/url"

	"github.com/resguardo/resguardo/internal/account"
)

// reauthRedirect sends a page request that needs step-up to the password
// confirmation page, and back afterwards: a GET to where it was going, a
// form post to the security page it came from.
func reauthRedirect(w http.ResponseWriter, r *http.Request) {
	next := "/account/security"
	if r.Method == http.MethodGet {
		if p, ok := localPath(r.URL.RequestURI()); ok {
			next = p
		}
	}
	http.Redirect(w, r, "/account/reauth?next="+url.QueryEscape(next), http.StatusSeeOther)
}

type reauthView struct {
	layout
	Next    string
	Passkey bool // the customer has a passkey: the page offers it for step-up
}

func (s *Server) handleReauthForm() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		next, _ := localPath(r.URL.Query().Get("next"))
		has, err := s.hasPasskey(r)
		if err != nil {
			return err
		}
		return s.render(w, r, http.StatusOK, pageReauth, reauthView{layout: s.layoutFor(r, "reauth.title"), Next: next, Passkey: has})
	}
}

func (s *Server) handleReauth() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		next, ok := localPath(r.PostFormValue("next"))
		if !ok {
			next = "/account/security"
		}
		var token string
		var err error
		if code := r.PostFormValue("code"); code != "" {
			token, err = s.accounts.ReauthenticateCode(r.Context(), principal(r), code)
		} else {
			token, err = s.accounts.Reauthenticate(r.Context(), principal(r), r.PostFormValue("password"))
		}
		if err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err
			}
			has, herr := s.hasPasskey(r)
			if herr != nil {
				return herr
			}
			l := s.layoutFor(r, "reauth.title")
			l.Form = form{Errors: keys}
			return s.render(w, r, status, pageReauth, reauthView{layout: l, Next: next, Passkey: has})
		}
		if token != "" {
			s.setSessionCookie(w, token) // the session's new token: the old one no longer works
		}
		// #nosec G710 -- next passed localPath above
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
}

func (s *Server) handleSessionRevoke() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		p := principal(r)
		id := r.PathValue("id")
		if err := s.accounts.RevokeSession(r.Context(), p, id); err != nil {
			return err
		}
		if p.Kind == account.KindWeb && id == p.SessionID {
			s.clearSessionCookie(w)
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return nil
		}
		http.Redirect(w, r, "/account/security?done=revoked", http.StatusSeeOther)
		return nil
	}
}

func (s *Server) handleSessionsRevokeOthers() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.accounts.RevokeOtherSessions(r.Context(), principal(r)); err != nil {
			return err
		}
		http.Redirect(w, r, "/account/security?done=revoked", http.StatusSeeOther)
		return nil
	}
}

func (s *Server) handleEmailChange() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.accounts.RequestEmailChange(r.Context(), principal(r).Actor(), principal(r), r.PostFormValue("email"), requestLang(r)); err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err
			}
			return s.renderSecurity(w, r, status, failedForm(r, keys))
		}
		http.Redirect(w, r, "/account/security?done=email_sent", http.StatusSeeOther)
		return nil
	}
}
