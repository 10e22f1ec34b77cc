package server

import (
	"context"
	"net/http"
	"time"

	"github.com/resguardo/resguardo"
)

// handleHealthz answers while the process is up.
func (s *Server) handleHealthz() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

// handleReadyz answers 200 only while the database answers.
func (s *Server) handleReadyz() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.db.Ping(ctx); err != nil {
			s.log.WarnContext(r.Context(), "not ready", "err", err)
			return resguardo.Errorf(resguardo.EUnavailable, "The database is not reachable.")
		}
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}
