package server

import (
	"encoding/base64"
	"net/http"
)

type totpEnrolment struct {
	Secret     string `json:"secret"`
	OtpauthURI string `json:"otpauth_uri"`
	QRPNG      string `json:"qr_png"` // base64
}

type recoveryCodes struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

type codeRequest struct {
	Code string `json:"code"`
}

func (s *Server) handleAPITOTPBegin() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		en, err := s.accounts.BeginTOTP(r.Context(), principal(r))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, totpEnrolment{Secret: en.Secret, OtpauthURI: en.URI, QRPNG: base64.StdEncoding.EncodeToString(en.QRPNG)})
	}
}

func (s *Server) handleAPITOTPConfirm() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in codeRequest
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		codes, err := s.accounts.ConfirmTOTP(r.Context(), principal(r), in.Code, requestLang(r))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, recoveryCodes{codes})
	}
}

func (s *Server) handleAPITOTPRemove() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in codeRequest
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		if err := s.accounts.RemoveTOTP(r.Context(), principal(r), in.Code, requestLang(r)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) handleAPIRecoveryCodes() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		codes, err := s.accounts.RenewRecoveryCodes(r.Context(), principal(r))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, recoveryCodes{codes})
	}
}
