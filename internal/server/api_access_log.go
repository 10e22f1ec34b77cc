package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/resguardo/resguardo"
)

// accessLogEntry is what a customer sees of an audit entry about them: what
// happened, when, and by which kind of actor and staff role, never which
// staff member or request.
type accessLogEntry struct {
	Seq       int64     `json:"seq"` // the entry's number (its id), the paging cursor
	At        time.Time `json:"at"`
	Action    string    `json:"action"`
	ActorKind string    `json:"actor_kind"`
	ActorRole string    `json:"actor_role"`
	Outcome   string    `json:"outcome"`
	Client    string    `json:"client"`
}

type accessLogPage struct {
	Entries    []accessLogEntry `json:"entries"`
	NextBefore *int64           `json:"next_before"`
}

// accessLog reads one page of the principal's access log; before and limit
// were validated against the document (API) or default (pages).
func (s *Server) accessLog(r *http.Request, before int64, limit int) (accessLogPage, error) {
	events, err := s.accounts.AccessLog(r.Context(), principal(r).CustomerID, before, limit+1)
	if err != nil {
		return accessLogPage{}, err
	}
	page := accessLogPage{Entries: []accessLogEntry{}}
	for i, ev := range events {
		if i == limit {
			next := events[i-1].ID
			page.NextBefore = &next
			break
		}
		page.Entries = append(page.Entries, toAccessLogEntry(ev))
	}
	return page, nil
}

func toAccessLogEntry(ev resguardo.AuditEvent) accessLogEntry {
	return accessLogEntry{Seq: ev.ID, At: ev.At, Action: ev.Action, ActorKind: ev.ActorKind, ActorRole: ev.ActorRole, Outcome: ev.Outcome, Client: ev.Client}
}

func (s *Server) handleAPIAccessLog() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		before, _ := strconv.ParseInt(q.Get("before"), 10, 64) // validated by the document
		limit := 50
		if l, err := strconv.Atoi(q.Get("limit")); err == nil {
			limit = l
		}
		page, err := s.accessLog(r, before, limit)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, page)
	}
}
