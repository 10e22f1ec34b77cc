package server

import (
	"net/http"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
)

// accepted is the answer to requests whose outcome must not be told
// (registration, password reset request).
type accepted struct {
	Message string `json:"message"`
}

func (s *Server) handleAPIRegister() handler {
	type request struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		err := s.accounts.Register(r.Context(), account.RegisterInput{Email: in.Email, Password: in.Password, Name: in.Name, Lang: requestLang(r), Client: s.clientIP(r)})
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusAccepted, accepted{"If the address can be used, we have sent it a link to continue."})
	}
}

func (s *Server) handleAPILogin() handler {
	type request struct {
		Email      string `json:"email"`
		Password   string `json:"password"`
		DeviceName string `json:"device_name"`
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
		// Apps are known devices through their refresh family: while it lives
		// they refresh instead of signing in, and refresh is not limited.
		id, mfa, err := s.accounts.Login(r.Context(), account.SignIn{Email: in.Email, Password: in.Password, Client: s.clientIP(r)})
		if err != nil {
			return err
		}
		if mfa {
			// Nothing is issued until the second factor: only a short,
			// single-use challenge that carries the device name along.
			challenge, err := s.accounts.StartMFA(r.Context(), id)
			if err != nil {
				return err
			}
			return writeJSON(w, http.StatusOK, mfaRequired{Status: statusMFARequired, MFARequired: true, MFAToken: challenge})
		}
		tokens, err := s.accounts.IssueTokens(r.Context(), id, device, requestLang(r))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, signedIn{Status: statusSignedIn, Tokens: tokens})
	}
}

func (s *Server) handleAPIRefresh() handler {
	type request struct {
		RefreshToken string `json:"refresh_token"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		tokens, err := s.accounts.Refresh(r.Context(), in.RefreshToken)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, signedIn{Status: statusSignedIn, Tokens: tokens})
	}
}

func (s *Server) handleAPILogout() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, _ := principalFrom(r.Context())
		if err := s.accounts.Logout(r.Context(), p); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) handleAPIVerifyEmail() handler {
	type request struct {
		Token string `json:"token"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		if err := s.accounts.VerifyEmail(r.Context(), in.Token, requestLang(r)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) handleAPIForgotPassword() handler {
	type request struct {
		Email string `json:"email"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		if err := s.accounts.ForgotPassword(r.Context(), in.Email, requestLang(r), s.clientIP(r)); err != nil {
			return err
		}
		return writeJSON(w, http.StatusAccepted, accepted{"If the address has an account, we have sent it a link to reset the password."})
	}
}

func (s *Server) handleAPIResetPassword() handler {
	type request struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		if err := s.accounts.ResetPassword(r.Context(), in.Token, in.Password, requestLang(r)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) handleAPIChangePassword() handler {
	type request struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		p, _ := principalFrom(r.Context())
		if err := s.accounts.ChangePassword(r.Context(), p, in.CurrentPassword, in.NewPassword, requestLang(r)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// requestLang is the language negotiated for this request, for mail.
func requestLang(r *http.Request) string { return requestInfoFrom(r.Context()).Lang }

// The sign-in answer is one of two shapes, told apart by status (the
// document's discriminator), so generated clients can switch on it.
const (
	statusSignedIn    = "signed_in"
	statusMFARequired = "mfa_required"
)

// signedIn is every answer that issues tokens (sign-in, second step,
// passkey, refresh).
type signedIn struct {
	Status string `json:"status"`
	account.Tokens
}

// mfaRequired is the sign-in answer when a second factor is needed.
// MFARequired stays for apps that already test it.
type mfaRequired struct {
	Status      string `json:"status"`
	MFARequired bool   `json:"mfa_required"`
	MFAToken    string `json:"mfa_token"`
}

func (s *Server) handleAPIMFA() handler {
	type request struct {
		MFAToken   string `json:"mfa_token"`
		Code       string `json:"code"`
		DeviceName string `json:"device_name"`
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
		id, err := s.accounts.CompleteMFA(r.Context(), in.MFAToken, in.Code)
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

// appDevice is the device name an app gave, cleaned, or "App".
func appDevice(name string) (string, error) {
	device, err := resguardo.ParseDeviceName(name)
	if device == "" && err == nil {
		device = "App"
	}
	return device, err
}
