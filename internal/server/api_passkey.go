package server

import (
	"encoding/json"
	"net/http"

	"github.com/resguardo/resguardo/internal/account"
)

// Passkey ceremonies over the JSON API, for the apps (and for the site's
// own script, which uses the page routes in web_passkey.go instead so that
// its session cookie and form token apply).

type passkeyAdded struct {
	Passkey       account.PasskeyInfo `json:"passkey"`
	RecoveryCodes []string            `json:"recovery_codes,omitempty"`
}

func (s *Server) handleAPIPasskeyRegisterBegin() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.accounts.BeginPasskeyRegistration(r.Context(), principal(r))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, c)
	}
}

func (s *Server) handleAPIPasskeyRegisterFinish() handler {
	type request struct {
		Ceremony   string          `json:"ceremony"`
		Name       string          `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		info, codes, err := s.accounts.FinishPasskeyRegistration(r.Context(), principal(r), in.Ceremony, in.Name, in.Credential, requestLang(r))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, passkeyAdded{Passkey: info, RecoveryCodes: codes})
	}
}

func (s *Server) handleAPIPasskeys() handler {
	type list struct {
		Passkeys []account.PasskeyInfo `json:"passkeys"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		keys, err := s.accounts.Passkeys(r.Context(), principal(r).CustomerID)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, list{keys})
	}
}

func (s *Server) handleAPIPasskeyRename() handler {
	type request struct {
		Name string `json:"name"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		if err := s.accounts.RenamePasskey(r.Context(), principal(r), r.PathValue("id"), in.Name); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) handleAPIPasskeyRemove() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.accounts.RemovePasskey(r.Context(), principal(r), r.PathValue("id"), requestLang(r)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) handleAPIPasskeyReauthBegin() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.accounts.BeginPasskeyReauth(r.Context(), principal(r))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, c)
	}
}

func (s *Server) handleAPIPasskeyReauthFinish() handler {
	type request struct {
		Ceremony   string          `json:"ceremony"`
		Credential json.RawMessage `json:"credential"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		if _, err := s.accounts.FinishPasskeyReauth(r.Context(), principal(r), in.Ceremony, in.Credential); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) handleAPIPasskeySignInBegin() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.accounts.BeginPasskeySignIn(r.Context(), s.clientIP(r))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, c)
	}
}

func (s *Server) handleAPIPasskeySignInFinish() handler {
	type request struct {
		Ceremony   string          `json:"ceremony"`
		Credential json.RawMessage `json:"credential"`
		DeviceName string          `json:"device_name"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		device, err := appDevice(in.DeviceName)
		if err != nil {
			return err
		}
		id, err := s.accounts.FinishPasskeySignIn(r.Context(), in.Ceremony, in.Credential, s.clientIP(r))
		if err != nil {
			return err
		}
		tokens, err := s.accounts.IssueTokens(r.Context(), id, device, requestLang(r))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, signedIn{Status: statusSignedIn, Tokens: tokens})
	}
}

func (s *Server) handleAPIPasskeyMFABegin() handler {
	type request struct {
		MFAToken string `json:"mfa_token"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		c, err := s.accounts.BeginPasskeyMFA(r.Context(), in.MFAToken)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, c)
	}
}

func (s *Server) handleAPIPasskeyMFAFinish() handler {
	type request struct {
		MFAToken   string          `json:"mfa_token"`
		Ceremony   string          `json:"ceremony"`
		Credential json.RawMessage `json:"credential"`
		DeviceName string          `json:"device_name"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		device, err := appDevice(in.DeviceName)
		if err != nil {
			return err
		}
		id, err := s.accounts.FinishPasskeyMFA(r.Context(), in.MFAToken, in.Ceremony, in.Credential)
		if err != nil {
			return err
		}
		tokens, err := s.accounts.IssueTokens(r.Context(), id, device, requestLang(r))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, signedIn{Status: statusSignedIn, Tokens: tokens})
	}
}
