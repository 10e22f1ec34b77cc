package staff

import (
	"context"

	"github.com/resguardo/resguardo"
)

// StaffName is how a staff member is shown to colleagues on the approvals
// and audit pages: their work address and role, never only an id.
type StaffName struct {
	Email string
	Role  resguardo.Role
}

// Names resolves staff ids for a signed-in staff member (second factor
// given): the ids a page lists (who asked, who acted). An id that names no
// staff member is left out; the page then shows the id.
func (s *Service) Names(ctx context.Context, p Principal, ids []string) (map[string]StaffName, error) {
	if p.StaffID == "" || !p.MFADone {
		return nil, errForbidden
	}
	out := make(map[string]StaffName, len(ids))
	for _, id := range ids {
		if _, done := out[id]; done || id == "" {
			continue
		}
		row, err := s.db.Conn().StaffByID(ctx, id)
		if resguardo.ErrorCode(err) == resguardo.ENotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[id] = StaffName{Email: row.Email, Role: resguardo.Role(row.Role)}
	}
	return out, nil
}
