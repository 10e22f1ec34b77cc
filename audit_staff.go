package resguardo

// TargetStaff is the target kind of events about a staff account.
const TargetStaff = "staff"

// Audited staff actions. Names are stable: they are part of the chain.
const (
	ActStaffCreated            = "staff.created"
	ActStaffInvited            = "staff.invited"               // an account waiting for a second administrator: no link yet
	ActStaffEnrolLinkMailed    = "staff.enrolment_link_mailed" // #nosec G101 -- an audit action name, not a credential
	ActStaffDisabled           = "staff.disabled"
	ActStaffEnrolPassword      = "staff.enrolment_password_set" // #nosec G101 -- an audit action name, not a credential
	ActStaffEnrolled           = "staff.enrolled"
	ActStaffSignIn             = "staff.sign_in"
	ActStaffSignInFailed       = "staff.sign_in_failed"
	ActStaffCodeFailed         = "staff.code_failed"
	ActStaffRoleGranted        = "staff.role_granted"
	ActCustomerSearched        = "staff.customer_searched"
	ActCustomerViewed          = "staff.customer_viewed"         // the masked customer page was shown
	ActCustomerRevealed        = "staff.customer_field_revealed" // one field shown in clear, with the masked page: also a view (docs/audit.md)
	ActCustomerLocked          = "staff.customer_locked"
	ActCustomerUnlocked        = "staff.customer_unlocked"
	ActCustomerMFAReset        = "staff.customer_mfa_reset"
	ActCustomerSessionsRevoked = "staff.customer_sessions_revoked"
	ActApprovalRequested       = "approval.requested"
	ActApprovalApproved        = "approval.approved"
	ActApprovalRefused         = "approval.refused"
	ActApprovalCarriedOut      = "approval.carried_out"
)
