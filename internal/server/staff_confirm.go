package server

import (
	"net/http"

	staffsvc "github.com/resguardo/resguardo/internal/staff"
)

// pageStaffConfirmErase is the step between "approve" and an erasure: the
// approver sees what will be erased before it runs.
const pageStaffConfirmErase = "staff_confirm_erase"

func init() { pageNames = append(pageNames, pageStaffConfirmErase) }

// confirmEraseField is the form value that confirms an erasure's approval.
const confirmEraseField, confirmEraseValue = "confirm", "erase"

type staffConfirmEraseView struct {
	layout
	Request   staffsvc.Approval
	Name      string // masked
	Email     string // masked
	Phones    int
	Addresses int
	TOTP      bool
}

// confirmErasure answers the approval of someone else's pending erasure
// that was not confirmed yet with the confirmation page, and reports true;
// anything else (another kind, one's own request, a decided one, a
// confirmed approval) is left to the decision itself.
func (s *Server) confirmErasure(w http.ResponseWriter, r *http.Request) (bool, error) {
	if r.PostFormValue(confirmEraseField) == confirmEraseValue {
		return false, nil
	}
	items, err := s.staffSvc.Approvals(r.Context(), staffPrincipal(r))
	if err != nil {
		return false, err
	}
	for _, it := range items {
		if it.ID != r.PathValue("id") || it.Kind != staffsvc.KindErase || it.Mine || it.Status != "pending" {
			continue
		}
		c, err := s.staffSvc.View(r.Context(), staffPrincipal(r), it.SubjectID)
		if err != nil {
			return false, err
		}
		return true, s.render(w, r, http.StatusOK, pageStaffConfirmErase, staffConfirmEraseView{
			layout: s.layoutFor(r, "staff.erase.title"), Request: it, Name: c.Name, Email: c.Email,
			Phones: len(c.Phones), Addresses: len(c.Addresses), TOTP: c.TOTPEnabled})
	}
	return false, nil
}
