package staff

import (
	"fmt"
	"slices"

	"github.com/resguardo/resguardo"
)

// Op names one operation of the staff console.
type Op string

// The staff operations. Each is one service method (Request is three, one
// per kind it may ask for).
const (
	OpSearch         Op = "customer.search"
	OpView           Op = "customer.view"
	OpReveal         Op = "customer.reveal"
	OpEditName       Op = "customer.name"
	OpSaveAddress    Op = "customer.address.save"
	OpDeleteAddress  Op = "customer.address.delete"
	OpChangeEmail    Op = "customer.email"
	OpAddPhone       Op = "customer.phone.add"
	OpDeletePhone    Op = "customer.phone.delete"
	OpResetMFA       Op = "customer.mfa.reset"
	OpSetLocked      Op = "customer.lock"
	OpRevokeSessions Op = "customer.sessions.revoke"
	OpRequestExport  Op = "approval.request.export"
	OpRequestErase   Op = "approval.request.erase"
	OpRequestGrant   Op = "approval.request.grant"
	OpApprovals      Op = "approval.list"
	OpDecide         Op = "approval.decide"
	OpExportDownload Op = "approval.export.download"
	OpAuditRead      Op = "audit.read"
	OpAuditVerify    Op = "audit.verify"
	OpTeamList       Op = "team.list"
	OpTeamInvite     Op = "team.invite"
	OpTeamDisable    Op = "team.disable"
)

// Requirement is what an operation asks of the staff member doing it: a
// role holding one of AnyOf (read through the permission table in
// role.go), and with Recent a password or code check within the step-up
// window.
type Requirement struct {
	AnyOf  []resguardo.Permission
	Recent bool
}

// ops is the one declaration of what each staff operation requires. The
// server's route policies are built from it (StaffOp), so a request is
// refused before its handler runs, and the service checks it again inside
// the operation (require), so a caller that is not the console is refused
// too. Neither states a permission of its own: they cannot disagree.
var ops = map[Op]Requirement{
	OpSearch:         {AnyOf: perms(resguardo.PermCustomerSearch)},
	OpView:           {AnyOf: perms(resguardo.PermCustomerSearch)},
	OpReveal:         {AnyOf: perms(resguardo.PermCustomerReveal)},
	OpEditName:       {AnyOf: perms(resguardo.PermCustomerEdit)},
	OpSaveAddress:    {AnyOf: perms(resguardo.PermCustomerEdit)},
	OpDeleteAddress:  {AnyOf: perms(resguardo.PermCustomerEdit)},
	OpChangeEmail:    {AnyOf: perms(resguardo.PermCustomerCritical), Recent: true},
	OpAddPhone:       {AnyOf: perms(resguardo.PermCustomerCritical), Recent: true},
	OpDeletePhone:    {AnyOf: perms(resguardo.PermCustomerCritical), Recent: true},
	OpResetMFA:       {AnyOf: perms(resguardo.PermCustomerCritical), Recent: true},
	OpSetLocked:      {AnyOf: perms(resguardo.PermCustomerCritical), Recent: true},
	OpRevokeSessions: {AnyOf: perms(resguardo.PermCustomerCritical), Recent: true},
	OpRequestExport:  {AnyOf: perms(resguardo.PermCustomerExport), Recent: true},
	OpRequestErase:   {AnyOf: perms(resguardo.PermCustomerErase), Recent: true},
	OpRequestGrant:   {AnyOf: perms(resguardo.PermStaffManage), Recent: true},
	// The approvals page serves each role its own kinds; which requests
	// one may decide is then the kind's own requirement (kindOp).
	OpApprovals:      {AnyOf: perms(resguardo.PermCustomerExport, resguardo.PermCustomerErase, resguardo.PermStaffManage)},
	OpDecide:         {AnyOf: perms(resguardo.PermCustomerExport, resguardo.PermCustomerErase, resguardo.PermStaffManage), Recent: true},
	OpExportDownload: {AnyOf: perms(resguardo.PermCustomerExport), Recent: true},
	OpAuditRead:      {AnyOf: perms(resguardo.PermAuditRead)},
	OpAuditVerify:    {AnyOf: perms(resguardo.PermAuditRead)},
	OpTeamList:       {AnyOf: perms(resguardo.PermStaffManage)},
	OpTeamInvite:     {AnyOf: perms(resguardo.PermStaffManage), Recent: true},
	OpTeamDisable:    {AnyOf: perms(resguardo.PermStaffManage), Recent: true},
}

func perms(p ...resguardo.Permission) []resguardo.Permission { return p }

// kindOp is the operation that asks for (and, on /approvals, decides) a
// request of each kind.
var kindOp = map[string]Op{
	KindExport:  OpRequestExport,
	KindErase:   OpRequestErase,
	KindGrant:   OpRequestGrant,
	KindCreate:  OpTeamInvite,
	KindDisable: OpTeamDisable,
}

// Requires returns an operation's requirement. An unknown operation is a
// programming error, found when the route table is built at start.
func Requires(op Op) Requirement {
	req, ok := ops[op]
	if !ok {
		panic(fmt.Sprintf("staff: unknown operation %q", op))
	}
	return Requirement{AnyOf: slices.Clone(req.AnyOf), Recent: req.Recent}
}

// Ops lists every operation, sorted, for tests that walk them all.
func Ops() []Op {
	out := make([]Op, 0, len(ops))
	for op := range ops {
		out = append(out, op)
	}
	slices.Sort(out)
	return out
}

// admits reports whether p's role holds one of the requirement's
// permissions.
func (r Requirement) admits(p Principal) bool {
	return slices.ContainsFunc(r.AnyOf, p.Can)
}

// require checks an operation's requirement: the role, then step-up.
func (s *Service) require(p Principal, op Op) error {
	req := Requires(op)
	if !req.admits(p) {
		return errForbidden
	}
	if req.Recent && !p.Recent(s.now()) {
		return errReauthNeeded
	}
	return nil
}
