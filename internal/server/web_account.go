package server

import (
	"net/http"
	"strings"

	"github.com/resguardo/resguardo"
)

// accountFlashes are the only notices /account?done= can show: the query
// never carries text of its own.
var accountFlashes = map[string]string{"saved": "account.saved", "password": "security.changed", "revoked": "security.revoked", "totp_off": "totp.removed", "email_sent": "security.email_sent"}

// The account page's sections, each at an address of its own so that a
// person reaches it directly and it stays short on a phone: the profile at
// /account, the others at /account/<section> (security has its own page).
const (
	sectionProfile  = "profile"
	sectionContact  = "contact"
	sectionActivity = "activity"
	sectionPrivacy  = "privacy"
)

// accountLogPage is how many access-log entries the activity section shows.
const accountLogPage = 50

// sectionOf is the section a request is about: a section page's own, or,
// for a change posted from the page, the section of the form it came from.
func sectionOf(r *http.Request) string {
	switch p := r.URL.Path; {
	case p == "/account/contact" || strings.HasPrefix(p, "/account/phones") || strings.HasPrefix(p, "/account/addresses"):
		return sectionContact
	case p == "/account/activity":
		return sectionActivity
	case p == "/account/privacy":
		return sectionPrivacy
	}
	return sectionProfile
}

// sectionPath is where a section is.
func sectionPath(section string) string {
	if section == sectionProfile {
		return "/account"
	}
	return "/account/" + section
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, status int, f form, newAddr resguardo.Address) error {
	c, err := s.accounts.Profile(r.Context(), principal(r).CustomerID)
	if err != nil {
		return err
	}
	section := sectionOf(r)
	var log accessLogPage
	if section == sectionActivity {
		if log, err = s.accessLog(r, 0, accountLogPage); err != nil {
			return err
		}
	}
	l := s.layoutFor(r, "account.title")
	l.Form = f
	return s.render(w, r, status, pageAccount, accountView{layout: l, Section: section, Customer: c, NewAddress: newAddr,
		Flash: accountFlashes[r.URL.Query().Get("done")], AccessLog: log.Entries})
}

func (s *Server) handleAccount() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.renderAccount(w, r, http.StatusOK, form{}, resguardo.Address{})
	}
}

// accountChange runs one change of the account page and answers it: back to
// the page with a notice, or the page again with what was wrong.
func (s *Server) accountChange(change func(r *http.Request, customerID string) error) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := change(r, principal(r).CustomerID); err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err // not found (another customer's id) and internal errors
			}
			return s.renderAccount(w, r, status, failedForm(r, keys), addressFromForm(r, ""))
		}
		http.Redirect(w, r, sectionPath(sectionOf(r))+"?done=saved", http.StatusSeeOther)
		return nil
	}
}

func addressFromForm(r *http.Request, id string) resguardo.Address {
	return resguardo.Address{ID: id, Label: r.PostFormValue("label"), Line1: r.PostFormValue("line1"), Line2: r.PostFormValue("line2"),
		City: r.PostFormValue("city"), Region: r.PostFormValue("region"), PostalCode: r.PostFormValue("postal_code"), Country: r.PostFormValue("country")}
}

func (s *Server) handleAccountName() handler {
	return s.accountChange(func(r *http.Request, id string) error {
		return s.accounts.UpdateName(r.Context(), resguardo.CustomerActor(id), id, r.PostFormValue("name"))
	})
}

func (s *Server) handleAccountPhoneAdd() handler {
	return s.accountChange(func(r *http.Request, id string) error {
		_, err := s.accounts.AddPhone(r.Context(), resguardo.CustomerActor(id), id, r.PostFormValue("label"), r.PostFormValue("number"))
		return err
	})
}

func (s *Server) handleAccountPhoneDelete() handler {
	return s.accountChange(func(r *http.Request, id string) error {
		return s.accounts.DeletePhone(r.Context(), resguardo.CustomerActor(id), id, r.PathValue("id"))
	})
}

func (s *Server) handleAccountAddressAdd() handler {
	return s.accountChange(func(r *http.Request, id string) error {
		_, err := s.accounts.AddAddress(r.Context(), resguardo.CustomerActor(id), id, addressFromForm(r, ""))
		return err
	})
}

func (s *Server) handleAccountAddressUpdate() handler {
	return s.accountChange(func(r *http.Request, id string) error {
		_, err := s.accounts.UpdateAddress(r.Context(), resguardo.CustomerActor(id), id, addressFromForm(r, r.PathValue("id")))
		return err
	})
}

func (s *Server) handleAccountAddressDelete() handler {
	return s.accountChange(func(r *http.Request, id string) error {
		return s.accounts.DeleteAddress(r.Context(), resguardo.CustomerActor(id), id, r.PathValue("id"))
	})
}

func (s *Server) handleSecurity() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.renderSecurity(w, r, http.StatusOK, form{})
	}
}

// handleChangePassword changes the password, ends every other session, and
// replaces this session's token too: a privilege change never keeps a
// token that existed before it.
func (s *Server) handleChangePassword() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		p := principal(r)
		err := s.accounts.ChangePassword(r.Context(), p, r.PostFormValue("current_password"), r.PostFormValue("new_password"), requestLang(r))
		if err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err
			}
			return s.renderSecurity(w, r, status, failedForm(r, keys))
		}
		if _, err := s.replaceSession(w, r); err != nil {
			return err
		}
		http.Redirect(w, r, "/account/security?done=password", http.StatusSeeOther)
		return nil
	}
}

// replaceSession gives the browser a new session token after a change of
// credentials: a privilege change never keeps a token that existed before
// it. It returns the request as seen under the new session, for pages
// rendered in the same response.
func (s *Server) replaceSession(w http.ResponseWriter, r *http.Request) (*http.Request, error) {
	token, np, err := s.accounts.ReplaceWebSession(r.Context(), principal(r), deviceName(r.UserAgent()), requestLang(r))
	if err != nil {
		return nil, err
	}
	s.setSessionCookie(w, token)
	return r.WithContext(withPrincipal(r.Context(), np)), nil
}

func (s *Server) renderSecurity(w http.ResponseWriter, r *http.Request, status int, f form) error {
	sessions, err := s.accounts.Sessions(r.Context(), principal(r))
	if err != nil {
		return err
	}
	l := s.layoutFor(r, "security.title")
	l.Form = f
	c, err := s.accounts.Profile(r.Context(), principal(r).CustomerID)
	if err != nil {
		return err
	}
	passkeys, err := s.accounts.Passkeys(r.Context(), principal(r).CustomerID)
	if err != nil {
		return err
	}
	return s.render(w, r, status, pageSecurity, securityView{layout: l, Flash: accountFlashes[r.URL.Query().Get("done")], Sessions: sessions, TOTP: c.TOTPEnabled, Passkeys: passkeys})
}
