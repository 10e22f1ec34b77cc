package server

import (
	"net/http"

	"github.com/resguardo/resguardo"
)

// deleteView is the page that confirms an erasure: what goes, what stays,
// and the address to type to confirm.
type deleteView struct {
	layout
	Email string
}

// handleAccountExport serves the same JSON as GET /api/v1/me/export, as a
// download.
func (s *Server) handleAccountExport() handler {
	return s.writeExport
}

func (s *Server) handleAccountDeleteForm() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.renderDelete(w, r, http.StatusOK, form{})
	}
}

func (s *Server) renderDelete(w http.ResponseWriter, r *http.Request, status int, f form) error {
	c, err := s.accounts.Profile(r.Context(), principal(r).CustomerID)
	if err != nil {
		return err
	}
	l := s.layoutFor(r, "delete.title")
	l.Form = f
	return s.render(w, r, status, pageDelete, deleteView{layout: l, Email: string(c.Email)})
}

// errNotConfirmed answers an erasure form without the account's address
// typed into it.
var errNotConfirmed = &resguardo.Error{Code: resguardo.EInvalid, Message: "Type the account's e-mail address to confirm the erasure.",
	Fields: []resguardo.FieldProblem{{Field: "confirm", Detail: "must be the account's e-mail address"}}}

// confirmed reports whether the form carries the account's own address: a
// deliberate act that a stray click or a pre-filled form cannot supply.
func (s *Server) confirmed(r *http.Request) (bool, error) {
	typed, err := resguardo.ParseEmail(r.PostFormValue("confirm"))
	if err != nil {
		return false, nil
	}
	c, err := s.accounts.Profile(r.Context(), principal(r).CustomerID)
	if err != nil {
		return false, err
	}
	return typed == c.Email, nil
}

// handleAccountDelete erases the account once confirmed, clears the
// session cookie (the session itself went with the account) and says
// goodbye on a page that is no longer signed in.
func (s *Server) handleAccountDelete() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		ok, err := s.confirmed(r)
		if err != nil {
			return err
		}
		if !ok {
			keys, status, _ := formFailure(errNotConfirmed)
			return s.renderDelete(w, r, status, form{Errors: keys})
		}
		if _, err := s.accounts.Erase(r.Context(), principal(r).Actor(), principal(r)); err != nil {
			return err
		}
		s.clearSessionCookie(w)
		l := s.layoutFor(r, "delete.title")
		l.SignedIn, l.CSRF = false, "" // the session no longer exists
		return s.render(w, r, http.StatusOK, pageNotice, noticeView{layout: l, MessageKey: "delete.done", LinkHref: "/", LinkKey: "error.home"})
	}
}
