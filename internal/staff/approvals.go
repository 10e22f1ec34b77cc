package staff

import (
	"context"
	"slices"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// Four-eyes operations: one person asks, a different person with the same
// permission approves within Options.ApprovalTTL, then it runs. Nobody
// approves their own request (checked here and in the UPDATE itself).
const (
	KindExport = "customer.export" // the requester downloads the data once, after approval
	KindErase  = "customer.erase"  // runs on approval
	KindGrant  = "staff.grant"     // lead or admin role; runs on approval
	// KindCreate is an invitation made in the console (any role but
	// auditor): on approval the invitee's enrolment link is made and
	// mailed to them. It is asked by Create, never through Request.
	KindCreate = "staff.create"
	// KindDisable disables an administrator; runs on approval.
	KindDisable = "staff.disable"
)

// staffKind reports a kind whose subject is a staff member.
func staffKind(kind string) bool {
	return kind == KindGrant || kind == KindCreate || kind == KindDisable
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
	// StaffSubject is set for requests about a staff member (a role grant,
	// an invitation, disabling an administrator): the approver sees whose
	// work address the request is about.
	StaffSubject string
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
	op, ok := kindOp[kind]
	if !ok {
		return "", errUnknownKind
	}
	if err := s.require(p, op); err != nil {
		return "", err
	}
	target := resguardo.TargetCustomer
	switch kind {
	case KindCreate:
		return "", resguardo.Errorf(resguardo.EInvalid, "Invitations are made on the team page.")
	case KindGrant:
		target = resguardo.TargetStaff
		role := resguardo.Role(detail)
		if role != resguardo.RoleLead && role != resguardo.RoleAdmin {
			return "", &resguardo.Error{Code: resguardo.EInvalid, Message: "Only lead and admin roles need approval.", Fields: []resguardo.FieldProblem{{Field: "role", Detail: "must be lead or admin"}}}
		}
		if _, err := s.db.Conn().StaffByID(ctx, subjectID); err != nil {
			return "", err
		}
	case KindDisable:
		target, detail = resguardo.TargetStaff, ""
		subject, err := s.db.Conn().StaffByID(ctx, subjectID)
		if err != nil {
			return "", err
		}
		switch {
		case subject.ID == p.StaffID:
			return "", errDisableSelf
		case subject.Disabled:
			return "", resguardo.Errorf(resguardo.EConflict, "This staff member is already disabled.")
		case resguardo.Role(subject.Role) != resguardo.RoleAdmin:
			return "", resguardo.Errorf(resguardo.EInvalid, "Only disabling an administrator needs approval.")
		}
	default:
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
	if err := s.require(p, OpApprovals); err != nil {
		return nil, err
	}
	var kinds []string
	for k, op := range kindOp {
		if Requires(op).admits(p) {
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
		a := s.approval(r, p)
		if staffKind(r.Kind) {
			subject, err := s.db.Conn().StaffByID(ctx, r.SubjectID)
			if err != nil {
				return nil, err
			}
			a.StaffSubject = subject.Email
		}
		out = append(out, a)
	}
	return out, nil
}

// Decide approves or refuses someone else's pending request (step-up). An
// approved erasure or role grant runs at once, in the approver's name.
func (s *Service) Decide(ctx context.Context, p Principal, id string, approve bool) (*account.Erasure, error) {
	// Deciding needs the page's requirement, checked before anything is
	// read, and then the kind's own: the role that may ask for a kind is
	// the role that may decide it.
	if err := s.require(p, OpDecide); err != nil {
		return nil, err
	}
	row, err := s.db.Conn().Approval(ctx, id)
	if err != nil {
		return nil, err
	}
	op, ok := kindOp[row.Kind]
	if !ok {
		return nil, errForbidden
	}
	if err := s.require(p, op); err != nil {
		return nil, err
	}
	if row.RequestedBy == p.StaffID {
		return nil, resguardo.Errorf(resguardo.EForbidden, "You cannot approve your own request: a second person must.")
	}
	if staffKind(row.Kind) && row.SubjectID == p.StaffID {
		return nil, resguardo.Errorf(resguardo.EForbidden, "You cannot decide a request about yourself.")
	}
	if approve {
		if err := s.stillEntitled(ctx, row, Requires(op)); err != nil {
			return nil, err
		}
	}
	status, action := sqlstore.ApprovalRefused, resguardo.ActApprovalRefused
	if approve {
		status, action = sqlstore.ApprovalApproved, resguardo.ActApprovalApproved
	}
	target := resguardo.TargetCustomer
	if staffKind(row.Kind) {
		target = resguardo.TargetStaff
	}
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.DecideApproval(ctx, id, p.StaffID, status, s.now().Unix()); err != nil {
			return resguardo.Errorf(resguardo.EConflict, "This request is no longer pending (decided or expired).")
		}
		if err := s.carryOutStaff(ctx, c, p, row, approve); err != nil {
			return err
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
	er, err := s.accounts.Erase(ctx, p.Actor(), account.Principal{CustomerID: row.SubjectID})
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
	if err := s.require(p, OpExportDownload); err != nil {
		return account.Export{}, err
	}
	row, err := s.db.Conn().Approval(ctx, id)
	if err != nil || row.Kind != KindExport {
		return account.Export{}, resguardo.Errorf(resguardo.ENotFound, "No such request.")
	}
	if err := s.db.Conn().CompleteApproval(ctx, id, p.StaffID, s.now().Unix()); err != nil {
		return account.Export{}, resguardo.Errorf(resguardo.EConflict, "This export is not approved, was already downloaded, has expired, or is not yours.")
	}
	return s.accounts.Export(ctx, p.Actor(), account.Principal{CustomerID: row.SubjectID})
}

// stillEntitled refuses to approve a request whose requester has since been
// disabled or lost the permission, or a grant to a member since disabled.
func (s *Service) stillEntitled(ctx context.Context, row sqlstore.ApprovalRow, req Requirement) error {
	refused := resguardo.Errorf(resguardo.EConflict, "The person who asked is no longer entitled to this request; it cannot be approved.")
	asker, err := s.db.Conn().StaffByID(ctx, row.RequestedBy)
	if err != nil || asker.Disabled || !slices.ContainsFunc(req.AnyOf, resguardo.Role(asker.Role).Can) {
		return refused
	}
	if staffKind(row.Kind) {
		subject, err := s.db.Conn().StaffByID(ctx, row.SubjectID)
		if err != nil || subject.Disabled {
			return resguardo.Errorf(resguardo.EConflict, "The staff member is disabled; the request cannot be approved.")
		}
		if row.Kind == KindCreate && (subject.EnrolHash != nil || subject.TOTPEnabled) {
			return resguardo.Errorf(resguardo.EConflict, "This invitation already has its enrolment link.")
		}
		if row.Kind == KindDisable && resguardo.Role(subject.Role) != resguardo.RoleAdmin {
			return resguardo.Errorf(resguardo.EConflict, "The staff member is no longer an administrator; disable them on the team page.")
		}
	}
	return nil
}

// carryOutStaff runs a decided invitation or administrator disabling in
// the decision's transaction, in the approver's name:
//
//   - an approved invitation gets its single-use enrolment link, sealed in
//     the staff outbox for the invitee's mailbox only (nobody else sees it:
//     not the approver, not the requester, not a page or a log);
//   - a refused invitation is disabled, so it can never get a link;
//   - an approved disabling disables the administrator and ends their
//     sessions.
func (s *Service) carryOutStaff(ctx context.Context, c sqlstore.Conn, p Principal, row sqlstore.ApprovalRow, approve bool) error {
	switch {
	case row.Kind == KindCreate && approve:
		subject, err := c.StaffByID(ctx, row.SubjectID)
		if err != nil {
			return err
		}
		token, hash := auth.NewToken()
		if err := c.SetStaffEnrolLink(ctx, subject.ID, hash, s.now().Add(s.o.EnrolTTL).Unix()); err != nil {
			return resguardo.Errorf(resguardo.EConflict, "This invitation already has its enrolment link.")
		}
		if err := s.queueEnrolment(ctx, c, subject, token, p.Lang); err != nil {
			return err
		}
		if err := c.CompleteApproval(ctx, row.ID, row.RequestedBy, s.now().Unix()); err != nil {
			return err
		}
		ev := staffEvent(p, resguardo.ActStaffCreated, resguardo.TargetStaff, subject.ID, resguardo.OutcomeSuccess)
		ev.Fields = []string{"role:" + subject.Role}
		return s.audit.Append(ctx, c, ev)
	case row.Kind == KindCreate:
		if err := disableIn(ctx, c, row.SubjectID); err != nil {
			return err
		}
		ev := staffEvent(p, resguardo.ActStaffDisabled, resguardo.TargetStaff, row.SubjectID, resguardo.OutcomeSuccess)
		ev.Fields = []string{KindCreate + ":refused"}
		return s.audit.Append(ctx, c, ev)
	case row.Kind == KindDisable && approve:
		if err := disableIn(ctx, c, row.SubjectID); err != nil {
			return err
		}
		if err := c.CompleteApproval(ctx, row.ID, row.RequestedBy, s.now().Unix()); err != nil {
			return err
		}
		return s.audit.Append(ctx, c, staffEvent(p, resguardo.ActStaffDisabled, resguardo.TargetStaff, row.SubjectID, resguardo.OutcomeSuccess))
	}
	return nil
}
