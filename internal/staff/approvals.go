package staff

import (
	"context"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// Four-eyes operations: one person asks, a different person with the same
// permission approves within Options.ApprovalTTL, then it runs. Nobody
// approves their own request (checked here and in the UPDATE itself).
const (
	KindExport = "customer.export" // the requester downloads the data once, after approval
	KindErase  = "customer.erase"  // runs on approval
	KindGrant  = "staff.grant"     // lead or admin role; runs on approval
)

// kindPermission is the permission a kind needs, to ask and to approve.
var kindPermission = map[string]resguardo.Permission{
	KindExport: resguardo.PermCustomerExport,
	KindErase:  resguardo.PermCustomerErase,
	KindGrant:  resguardo.PermStaffManage,
}

// Approval is a request as the console shows it.
type Approval struct {
	ID          string
	Kind        string
	SubjectID   string
	Detail      string
	RequestedBy string
	RequestedAt time.Time
	ExpiresAt   time.Time
	DecidedBy   string
	Status      string
	Mine        bool // asked by the viewer: they cannot approve it
}

func (s *Service) approval(r sqlstore.ApprovalRow, viewer Principal) Approval {
	status := r.Status
	if status == sqlstore.ApprovalPending && s.now().Unix() >= r.ExpiresAt {
		status = "expired"
	}
	return Approval{ID: r.ID, Kind: r.Kind, SubjectID: r.SubjectID, Detail: r.Detail, RequestedBy: r.RequestedBy,
		RequestedAt: time.Unix(r.RequestedAt, 0).UTC(), ExpiresAt: time.Unix(r.ExpiresAt, 0).UTC(), DecidedBy: r.DecidedBy.String,
		Status: status, Mine: r.RequestedBy == viewer.StaffID}
}

var errUnknownKind = resguardo.Errorf(resguardo.EInvalid, "Unknown kind of request.")

// Request asks for a four-eyes operation (step-up).
func (s *Service) Request(ctx context.Context, p Principal, kind, subjectID, detail string) (string, error) {
	perm, ok := kindPermission[kind]
	if !ok {
		return "", errUnknownKind
	}
	if err := s.require(p, perm, true); err != nil {
		return "", err
	}
	target := resguardo.TargetCustomer
	if kind == KindGrant {
		target = resguardo.TargetStaff
		role := resguardo.Role(detail)
		if role != resguardo.RoleLead && role != resguardo.RoleAdmin {
			return "", &resguardo.Error{Code: resguardo.EInvalid, Message: "Only lead and admin roles need approval.", Fields: []resguardo.FieldProblem{{Field: "role", Detail: "must be lead or admin"}}}
		}
		if _, err := s.db.Conn().StaffByID(ctx, subjectID); err != nil {
			return "", err
		}
	} else {
		detail = ""
		if ok, err := s.accounts.Exists(ctx, subjectID); err != nil {
			return "", err
		} else if !ok {
			return "", resguardo.Errorf(resguardo.ENotFound, "No such customer.")
		}
	}
	now := s.now()
	row := sqlstore.ApprovalRow{ID: newID(), Kind: kind, SubjectID: subjectID, Detail: detail, RequestedBy: p.StaffID,
		RequestedAt: now.Unix(), ExpiresAt: now.Add(s.o.ApprovalTTL).Unix()}
	err := s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.InsertApproval(ctx, row); err != nil {
			return err
		}
		ev := staffEvent(p, resguardo.ActApprovalRequested, target, subjectID, resguardo.OutcomeSuccess)
		ev.Fields = []string{kind}
		return s.audit.Append(ctx, c, ev)
	})
	return row.ID, err
}

// Approvals lists the requests the viewer may see: those of kinds their
// role can ask for.
func (s *Service) Approvals(ctx context.Context, p Principal) ([]Approval, error) {
	var kinds []string
	for k, perm := range kindPermission {
		if p.Can(perm) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return nil, errForbidden
	}
	rows, err := s.db.Conn().ListApprovals(ctx, kinds, 100)
	if err != nil {
		return nil, err
	}
	out := make([]Approval, 0, len(rows))
	for _, r := range rows {
		out = append(out, s.approval(r, p))
	}
	return out, nil
}

// Decide approves or refuses someone else's pending request (step-up). An
// approved erasure or role grant runs at once, in the approver's name.
func (s *Service) Decide(ctx context.Context, p Principal, id string, approve bool) (*account.Erasure, error) {
	row, err := s.db.Conn().Approval(ctx, id)
	if err != nil {
		return nil, err
	}
	perm := kindPermission[row.Kind]
	if err := s.require(p, perm, true); err != nil {
		return nil, err
	}
	if row.RequestedBy == p.StaffID {
		return nil, resguardo.Errorf(resguardo.EForbidden, "You cannot approve your own request: a second person must.")
	}
	if approve {
		if err := s.stillEntitled(ctx, row, perm); err != nil {
			return nil, err
		}
	}
	status, action := sqlstore.ApprovalRefused, resguardo.ActApprovalRefused
	if approve {
		status, action = sqlstore.ApprovalApproved, resguardo.ActApprovalApproved
	}
	target := resguardo.TargetCustomer
	if row.Kind == KindGrant {
		target = resguardo.TargetStaff
	}
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.DecideApproval(ctx, id, p.StaffID, status, s.now().Unix()); err != nil {
			return resguardo.Errorf(resguardo.EConflict, "This request is no longer pending (decided or expired).")
		}
		if approve && row.Kind == KindGrant {
			if err := c.SetStaffRole(ctx, row.SubjectID, row.Detail); err != nil {
				return err
			}
			if err := c.DeleteStaffSessions(ctx, row.SubjectID); err != nil { // a role change starts new sessions
				return err
			}
			if err := c.CompleteApproval(ctx, id, row.RequestedBy, s.now().Unix()); err != nil {
				return err
			}
			ev := staffEvent(p, resguardo.ActStaffRoleGranted, resguardo.TargetStaff, row.SubjectID, resguardo.OutcomeSuccess)
			ev.Fields = []string{"role:" + row.Detail}
			if err := s.audit.Append(ctx, c, ev); err != nil {
				return err
			}
		}
		ev := staffEvent(p, action, target, row.SubjectID, resguardo.OutcomeSuccess)
		ev.Fields = []string{row.Kind}
		return s.audit.Append(ctx, c, ev)
	})
	if err != nil || !approve || row.Kind != KindErase {
		return nil, err
	}
	er, err := s.accounts.Erase(actingAs(ctx, p), account.Principal{CustomerID: row.SubjectID})
	if err != nil {
		return nil, err
	}
	if err := s.db.Conn().CompleteApproval(ctx, id, row.RequestedBy, s.now().Unix()); err != nil {
		return nil, err
	}
	return &er, nil
}

// CarryOutExport gives the requester of an approved export the customer's
// data, once.
func (s *Service) CarryOutExport(ctx context.Context, p Principal, id string) (account.Export, error) {
	if err := s.require(p, resguardo.PermCustomerExport, true); err != nil {
		return account.Export{}, err
	}
	row, err := s.db.Conn().Approval(ctx, id)
	if err != nil || row.Kind != KindExport {
		return account.Export{}, resguardo.Errorf(resguardo.ENotFound, "No such request.")
	}
	if err := s.db.Conn().CompleteApproval(ctx, id, p.StaffID, s.now().Unix()); err != nil {
		return account.Export{}, resguardo.Errorf(resguardo.EConflict, "This export is not approved, was already downloaded, has expired, or is not yours.")
	}
	return s.accounts.Export(actingAs(ctx, p), account.Principal{CustomerID: row.SubjectID})
}

// stillEntitled refuses to approve a request whose requester has since been
// disabled or lost the permission, or a grant to a member since disabled.
func (s *Service) stillEntitled(ctx context.Context, row sqlstore.ApprovalRow, perm resguardo.Permission) error {
	refused := resguardo.Errorf(resguardo.EConflict, "The person who asked is no longer entitled to this request; it cannot be approved.")
	asker, err := s.db.Conn().StaffByID(ctx, row.RequestedBy)
	if err != nil || asker.Disabled || !resguardo.Role(asker.Role).Can(perm) {
		return refused
	}
	if row.Kind == KindGrant {
		subject, err := s.db.Conn().StaffByID(ctx, row.SubjectID)
		if err != nil || subject.Disabled {
			return resguardo.Errorf(resguardo.EConflict, "The staff member to promote is disabled; the request cannot be approved.")
		}
	}
	return nil
}
