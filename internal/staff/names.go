package staff

import (
	"context"

	"github.com/resguardo/resguardo"
)

// StaffName is how a staff member is shown to colleagues on the approvals
// and audit pages: the display name chosen at enrolment (the work address
// for staff enrolled before names existed) and the role, never only an id.
type StaffName struct {
	Name  string // "" if none was chosen
	Email string
	Role  resguardo.Role
}

// Display is the name to show: the chosen one, else the work address.
func (n StaffName) Display() string {
	if n.Name != "" {
		return n.Name
	}
	return n.Email
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
		name, err := s.openName(row)
		if err != nil {
			return nil, err
		}
		out[id] = StaffName{Name: name, Email: row.Email, Role: resguardo.Role(row.Role)}
	}
	return out, nil
}
