package server

import "net/http"

// handleTOTPSetup starts enrolment and shows the QR code, the secret as
// text, and the form for the first code.
func (s *Server) handleTOTPSetup() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		en, err := s.accounts.BeginTOTP(r.Context(), principal(r))
		if err != nil {
			if keys, status, ok := formFailure(err); ok {
				return s.renderSecurity(w, r, status, failedForm(r, keys))
			}
			return err
		}
		return s.render(w, r, http.StatusOK, pageTOTPSetup, totpSetupView{layout: s.layoutFor(r, "totp.title"), Secret: en.Secret, URI: en.URI})
	}
}

// handleTOTPQR serves the pending secret's QR code. GET, changes nothing;
// never cached.
func (s *Server) handleTOTPQR() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		en, err := s.accounts.PendingTOTP(r.Context(), principal(r))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "image/png")
		_, err = w.Write(en.QRPNG)
		return err
	}
}

func (s *Server) handleTOTPConfirm() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		codes, err := s.accounts.ConfirmTOTP(r.Context(), principal(r), r.PostFormValue("code"), requestLang(r))
		if err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err
			}
			en, perr := s.accounts.PendingTOTP(r.Context(), principal(r))
			if perr != nil {
				return s.renderSecurity(w, r, status, failedForm(r, keys))
			}
			l := s.layoutFor(r, "totp.title")
			l.Form = form{Errors: keys}
			return s.render(w, r, status, pageTOTPSetup, totpSetupView{layout: l, Secret: en.Secret, URI: en.URI})
		}
		r, err = s.replaceSession(w, r)
		if err != nil {
			return err
		}
		return s.render(w, r, http.StatusOK, pageRecovery, recoveryView{layout: s.layoutFor(r, "totp.codes_title"), Codes: codes})
	}
}

func (s *Server) handleTOTPRemove() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.accounts.RemoveTOTP(r.Context(), principal(r), r.PostFormValue("code"), requestLang(r)); err != nil {
			keys, status, ok := formFailure(err)
			if !ok {
				return err
			}
			return s.renderSecurity(w, r, status, failedForm(r, keys))
		}
		if _, err := s.replaceSession(w, r); err != nil {
			return err
		}
		http.Redirect(w, r, "/account/security?done=totp_off", http.StatusSeeOther)
		return nil
	}
}
