package server

import (
	"net/http"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
)

// me is the JSON shape of GET /api/v1/me (docs/contract.md §11).
type me struct {
	ID            string              `json:"id"`
	Email         string              `json:"email"`
	EmailVerified bool                `json:"email_verified"`
	Name          string              `json:"name"`
	Phones        []resguardo.Phone   `json:"phones"`
	Addresses     []resguardo.Address `json:"addresses"`
	MFA           struct {
		TOTP bool `json:"totp"`
	} `json:"mfa"`
}

func toMe(c resguardo.Customer) me {
	m := me{ID: c.ID, Email: string(c.Email), EmailVerified: c.EmailVerified, Name: c.Name, Phones: c.Phones, Addresses: c.Addresses}
	m.MFA.TOTP = c.TOTPEnabled
	return m
}

// principal is the signed-in customer; the Customer policy guarantees one.
func principal(r *http.Request) account.Principal {
	p, _ := principalFrom(r.Context())
	return p
}

func (s *Server) handleAPIMe() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, ok := profileFrom(r.Context()) // read with the token (Customer.WithProfile)
		if !ok {
			var err error
			if c, err = s.accounts.Profile(r.Context(), principal(r).CustomerID); err != nil {
				return err
			}
		}
		return writeJSON(w, http.StatusOK, toMe(c))
	}
}

func (s *Server) handleAPIMePatch() handler {
	type request struct {
		Name string `json:"name"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		id := principal(r).CustomerID
		if err := s.accounts.UpdateName(r.Context(), resguardo.CustomerActor(id), id, in.Name); err != nil {
			return err
		}
		c, err := s.accounts.Profile(r.Context(), id)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, toMe(c))
	}
}

func (s *Server) handleAPIPhoneAdd() handler {
	type request struct {
		Label  string `json:"label"`
		Number string `json:"number"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		ph, err := s.accounts.AddPhone(r.Context(), principal(r).Actor(), principal(r).CustomerID, in.Label, in.Number)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, ph)
	}
}

func (s *Server) handleAPIPhoneDelete() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.accounts.DeletePhone(r.Context(), principal(r).Actor(), principal(r).CustomerID, r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) handleAPIAddressAdd() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		// The document refuses an id in the body (AddressIn has none).
		var in resguardo.Address
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		a, err := s.accounts.AddAddress(r.Context(), principal(r).Actor(), principal(r).CustomerID, in)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, a)
	}
}

func (s *Server) handleAPIAddressPut() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in resguardo.Address
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		in.ID = r.PathValue("id")
		a, err := s.accounts.UpdateAddress(r.Context(), principal(r).Actor(), principal(r).CustomerID, in)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, a)
	}
}

func (s *Server) handleAPIAddressDelete() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.accounts.DeleteAddress(r.Context(), principal(r).Actor(), principal(r).CustomerID, r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) handleAPIEmailChange() handler {
	type request struct {
		Email string `json:"email"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		if err := s.accounts.RequestEmailChange(r.Context(), principal(r).Actor(), principal(r), in.Email, requestLang(r)); err != nil {
			return err
		}
		return writeJSON(w, http.StatusAccepted, accepted{"If the address can be used, we have sent it a link: the change happens when it is followed."})
	}
}
