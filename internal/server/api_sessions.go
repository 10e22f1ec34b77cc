package server

import "net/http"

func (s *Server) handleAPIReauth() handler {
	type request struct {
		Password string `json:"password"`
		Code     string `json:"code"`
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		var in request
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		var err error // an app sign-in keeps its tokens: only web sessions get a new one
		if in.Code != "" {
			_, err = s.accounts.ReauthenticateCode(r.Context(), principal(r), in.Code)
		} else {
			_, err = s.accounts.Reauthenticate(r.Context(), principal(r), in.Password)
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) handleAPISessions() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		list, err := s.accounts.Sessions(r.Context(), principal(r))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, list)
	}
}

func (s *Server) handleAPISessionRevoke() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.accounts.RevokeSession(r.Context(), principal(r), r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) handleAPISessionsRevokeOthers() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.accounts.RevokeOtherSessions(r.Context(), principal(r)); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
