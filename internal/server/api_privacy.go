package server

import (
	"net/http"
	"time"

	"github.com/resguardo/resguardo/internal/account"
)

// exportDoc is the JSON a customer downloads of their own data, from the
// API and from the account page alike. Access-log entries show what the
// access-log page shows: kind of actor and staff role, never the person.
type exportDoc struct {
	ExportedAt   time.Time             `json:"exported_at"`
	CreatedAt    time.Time             `json:"created_at"`
	Profile      me                    `json:"profile"`
	PendingEmail *string               `json:"pending_email"`
	Sessions     []account.SessionInfo `json:"sessions"`
	Passkeys     []account.PasskeyInfo `json:"passkeys"`
	AccessLog    []accessLogEntry      `json:"access_log"`
}

func toExportDoc(e account.Export) exportDoc {
	d := exportDoc{ExportedAt: e.ExportedAt, CreatedAt: e.CreatedAt, Profile: toMe(e.Profile), Sessions: e.Sessions, Passkeys: e.Passkeys,
		AccessLog: make([]accessLogEntry, 0, len(e.AccessLog))}
	if e.PendingEmail != "" {
		d.PendingEmail = &e.PendingEmail
	}
	for _, ev := range e.AccessLog {
		d.AccessLog = append(d.AccessLog, toAccessLogEntry(ev))
	}
	return d
}

// exportFilename is the name browsers save the download under.
const exportFilename = "resguardo-export.json"

// writeExport answers with the principal's data as a JSON download. The
// pipeline already marks every answer no-store; it is repeated here
// because this one must never sit in a cache.
func (s *Server) writeExport(w http.ResponseWriter, r *http.Request) error {
	e, err := s.accounts.Export(r.Context(), principal(r).Actor(), principal(r))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+exportFilename+`"`)
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, toExportDoc(e))
}

func (s *Server) handleAPIExport() handler {
	return s.writeExport
}

// erasureDoc is the answer to an erasure: what was erased, and what stays.
type erasureDoc struct {
	ID       string           `json:"id"`
	ErasedAt time.Time        `json:"erased_at"`
	Erased   []account.Erased `json:"erased"`
	Kept     string           `json:"kept"`
}

func toErasureDoc(e account.Erasure) erasureDoc {
	d := erasureDoc{ID: e.CustomerID, ErasedAt: e.ErasedAt, Erased: e.Erased, Kept: e.Kept}
	if d.Erased == nil {
		d.Erased = []account.Erased{}
	}
	return d
}

// handleAPIErase erases the account. The token that asked is gone with it:
// its next use is 401, like every other token and session of the account.
func (s *Server) handleAPIErase() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		e, err := s.accounts.Erase(r.Context(), principal(r).Actor(), principal(r))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, toErasureDoc(e))
	}
}
