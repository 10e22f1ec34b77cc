package server

import (
	"net/http"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
)

// Passkey pages. They need no fetch (the page CSP allows none): a POST
// begins a ceremony and renders the passkey page, whose form carries the
// ceremony token and the options; the product's own script
// (static/passkey.js) runs navigator.credentials on a click, puts the
// authenticator's answer in the form and submits it; the answer's POST
// finishes the ceremony.

const pagePasskey = "passkey"

// The passkey page is registered with the others at start, and so are the
// notices /account/security?done= may show after a passkey change.
func init() {
	pageNames = append(pageNames, pagePasskey)
	accountFlashes["passkey_added"] = "done.passkey_added"
	accountFlashes["passkey_renamed"] = "done.passkey_renamed"
	accountFlashes["passkey_removed"] = "done.passkey_removed"
}

type passkeyView struct {
	layout
	Mode     string // "create" or "get", read by the script
	Action   string // where the answer is posted
	Ceremony string
	Options  string // JSON for navigator.credentials
	LeadKey  string
	Next     string
	Token    string // a staff enrolment link's token, carried along
}

func (s *Server) renderPasskey(w http.ResponseWriter, r *http.Request, l layout, mode, action, leadKey, next string, c account.PasskeyCeremony) error {
	return s.render(w, r, http.StatusOK, pagePasskey, passkeyView{layout: l, Mode: mode, Action: action,
		Ceremony: c.Token, Options: string(c.Options), LeadKey: leadKey, Next: next})
}

// handlePasskeyAddStart begins adding a passkey (step-up required).
func (s *Server) handlePasskeyAddStart() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.accounts.BeginPasskeyRegistration(r.Context(), principal(r))
		if err != nil {
			if keys, status, ok := formFailure(err); ok {
				return s.renderSecurity(w, r, status, form{Errors: keys})
			}
			return err
		}
		return s.renderPasskey(w, r, s.layoutFor(r, "passkey.add_title"), "create", "/account/passkeys", "passkey.add_lead", "", c)
	}
}

// handlePasskeyAdd finishes adding a passkey. Like any change of the
// second factor it replaces this session's token (others end); the first
// second factor of the account comes with recovery codes, shown once.
func (s *Server) handlePasskeyAdd() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		_, codes, err := s.accounts.FinishPasskeyRegistration(r.Context(), principal(r), r.PostFormValue("ceremony"),
			r.PostFormValue("name"), []byte(r.PostFormValue("credential")), requestLang(r))
		if err != nil {
			if keys, status, ok := formFailure(err); ok {
				return s.renderSecurity(w, r, status, form{Errors: passkeyErrorKeys(err, keys)})
			}
			return err
		}
		r, err = s.replaceSession(w, r)
		if err != nil {
			return err
		}
		if len(codes) > 0 {
			return s.render(w, r, http.StatusOK, pageRecovery, recoveryView{layout: s.layoutFor(r, "totp.codes_title"), Codes: codes})
		}
		http.Redirect(w, r, "/account/security?done=passkey_added", http.StatusSeeOther)
		return nil
	}
}

func (s *Server) handlePasskeyRename() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.accounts.RenamePasskey(r.Context(), principal(r), r.PathValue("id"), r.PostFormValue("name")); err != nil {
			if keys, status, ok := formFailure(err); ok {
				return s.renderSecurity(w, r, status, form{Errors: keys})
			}
			return err
		}
		http.Redirect(w, r, "/account/security?done=passkey_renamed", http.StatusSeeOther)
		return nil
	}
}

func (s *Server) handlePasskeyRemove() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.accounts.RemovePasskey(r.Context(), principal(r), r.PathValue("id"), requestLang(r)); err != nil {
			return err
		}
		if _, err := s.replaceSession(w, r); err != nil {
			return err
		}
		http.Redirect(w, r, "/account/security?done=passkey_removed", http.StatusSeeOther)
		return nil
	}
}

// handlePasskeySignInStart begins a sign-in with a passkey alone.
func (s *Server) handlePasskeySignInStart() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.accounts.BeginPasskeySignIn(r.Context(), s.clientIP(r))
		if err != nil {
			return err
		}
		next, _ := localPath(r.PostFormValue("next"))
		return s.renderPasskey(w, r, s.guestLayout(w, r, "passkey.signin_title"), "get", "/login/passkey", "passkey.signin_lead", next, c)
	}
}

func (s *Server) handlePasskeySignIn() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := s.accounts.FinishPasskeySignIn(r.Context(), r.PostFormValue("ceremony"), []byte(r.PostFormValue("credential")), s.clientIP(r))
		if err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err
			}
			next, _ := localPath(r.PostFormValue("next"))
			l := s.guestLayout(w, r, "login.title")
			l.Form = form{Errors: passkeyErrorKeys(err, keys)}
			return s.render(w, r, status, pageLogin, loginView{layout: l, Next: next})
		}
		return s.beginWebSession(w, r, id, r.PostFormValue("next"))
	}
}

// handlePasskeyMFAStart begins the second step of a sign-in with a
// passkey (the password step's cookie names the sign-in).
func (s *Server) handlePasskeyMFAStart() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		next, _ := localPath(r.PostFormValue("next"))
		c, err := s.accounts.BeginPasskeyMFA(r.Context(), s.cookieValue(r, mfaCookie))
		if err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err
			}
			if resguardo.ErrorCode(err) == resguardo.EUnauthenticated {
				keys = []formError{{Key: "mfa.expired"}}
			}
			l := s.guestLayout(w, r, "mfa.title")
			l.Form = form{Errors: keys}
			return s.render(w, r, status, pageMFA, loginView{layout: l, Next: next})
		}
		return s.renderPasskey(w, r, s.guestLayout(w, r, "mfa.title"), "get", "/login/mfa/passkey", "passkey.mfa_lead", next, c)
	}
}

func (s *Server) handlePasskeyMFA() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := s.accounts.FinishPasskeyMFA(r.Context(), s.cookieValue(r, mfaCookie), r.PostFormValue("ceremony"), []byte(r.PostFormValue("credential")))
		if err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err
			}
			next, _ := localPath(r.PostFormValue("next"))
			l := s.guestLayout(w, r, "mfa.title")
			l.Form = form{Errors: passkeyErrorKeys(err, keys)}
			return s.render(w, r, status, pageMFA, loginView{layout: l, Next: next})
		}
		http.SetCookie(w, &http.Cookie{Name: s.cookieName(mfaCookie), Value: "", Path: "/", MaxAge: -1,
			HttpOnly: true, Secure: s.secureTransport, SameSite: http.SameSiteStrictMode}) // #nosec G124 -- Secure follows the transport, as for the other cookies
		return s.beginWebSession(w, r, id, r.PostFormValue("next"))
	}
}

// passkeyErrorKeys names a refused passkey on a page, instead of the
// password failure's message.
func passkeyErrorKeys(err error, keys []formError) []formError {
	if resguardo.ErrorCode(err) == resguardo.EUnauthenticated {
		return []formError{{Key: "passkey.failed"}}
	}
	return keys
}

// hasPasskey says whether the signed-in customer has a passkey, so the
// step-up page offers one only to those who can use it.
func (s *Server) hasPasskey(r *http.Request) (bool, error) {
	if s.accounts.PasskeyRP() == nil {
		return false, nil
	}
	keys, err := s.accounts.Passkeys(r.Context(), principal(r).CustomerID)
	if err != nil {
		return false, err
	}
	return len(keys) > 0, nil
}

// handlePasskeyReauthStart begins step-up with a passkey on the page: the
// ceremony is bound to this session.
func (s *Server) handlePasskeyReauthStart() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		next, _ := localPath(r.PostFormValue("next"))
		c, err := s.accounts.BeginPasskeyReauth(r.Context(), principal(r))
		if err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err
			}
			l := s.layoutFor(r, "reauth.title")
			l.Form = form{Errors: keys}
			return s.render(w, r, status, pageReauth, reauthView{layout: l, Next: next})
		}
		return s.renderPasskey(w, r, s.layoutFor(r, "reauth.title"), "get", "/account/reauth/passkey", "passkey.mfa_lead", next, c)
	}
}

// handlePasskeyReauth finishes step-up with a passkey; like the password,
// it gives the session a new token.
func (s *Server) handlePasskeyReauth() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		next, ok := localPath(r.PostFormValue("next"))
		if !ok {
			next = "/account/security"
		}
		token, err := s.accounts.FinishPasskeyReauth(r.Context(), principal(r), r.PostFormValue("ceremony"), []byte(r.PostFormValue("credential")))
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
			l.Form = form{Errors: passkeyErrorKeys(err, keys)}
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
