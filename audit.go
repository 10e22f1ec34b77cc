package resguardo

import "time"

// AuditEvent is one entry of the audit trail: who did what to whom, when,
// with what outcome, and (for changes) which fields; never the values.
type AuditEvent struct {
	ID         int64     `json:"id"`  // the entry's number, given when it is written; pages list and page by it
	Seq        int64     `json:"seq"` // its place in the tamper-evident chain, given shortly after (0 until then)
	At         time.Time `json:"at"`
	ActorKind  string    `json:"actor_kind"` // ActorCustomer, ActorStaff, ActorSystem, ActorAnonymous
	ActorID    string    `json:"actor_id"`
	ActorRole  string    `json:"actor_role"` // the staff role, shown to customers instead of the person
	Action     string    `json:"action"`
	TargetKind string    `json:"target_kind"` // "customer" for events about a customer's account or data
	TargetID   string    `json:"target_id"`
	Outcome    string    `json:"outcome"` // OutcomeSuccess, OutcomeFailure, OutcomeDenied
	RequestID  string    `json:"request_id"`
	Client     string    `json:"client"` // coarse: network prefix and device family
	Fields     []string  `json:"fields"`
	Reason     string    `json:"reason"` // the reason a staff member gave
}

// Actor kinds.
const (
	ActorCustomer  = "customer"
	ActorStaff     = "staff"
	ActorSystem    = "system"
	ActorAnonymous = "anonymous"
)

// Actor is who does an audited operation: a customer, a staff member with
// their role, or the system. A service method that writes an audit entry for
// an operation more than one kind of actor can do takes it as a parameter,
// and the entry names exactly that actor: nothing rewrites it afterwards.
type Actor struct {
	Kind string // ActorCustomer, ActorStaff or ActorSystem
	ID   string // the customer's or staff member's id; "" for the system
	Role Role   // the staff member's role; "" otherwise
}

// CustomerActor is the customer id acting on their own account.
func CustomerActor(id string) Actor { return Actor{Kind: ActorCustomer, ID: id} }

// StaffActor is a staff member, with the role they act in.
func StaffActor(id string, role Role) Actor { return Actor{Kind: ActorStaff, ID: id, Role: role} }

// SystemActor is the service itself (the demo seed, the operator's CLI).
var SystemActor = Actor{Kind: ActorSystem}

// Event is an entry by a about the target, with the names (never the
// values) of the fields it touched.
func (a Actor) Event(action, targetKind, targetID, outcome string, fields ...string) AuditEvent {
	return AuditEvent{ActorKind: a.Kind, ActorID: a.ID, ActorRole: string(a.Role), Action: action,
		TargetKind: targetKind, TargetID: targetID, Outcome: outcome, Fields: fields}
}

// Outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeDenied  = "denied"
)

// Audited actions. Names are stable: they are part of the chain.
const (
	ActSignUp           = "account.sign_up"
	ActEmailVerified    = "account.email_verified"
	ActEmailChangeAsked = "account.email_change_requested"
	ActEmailChanged     = "account.email_changed"
	ActSignIn           = "session.sign_in"
	ActSignInFailed     = "session.sign_in_failed"
	ActSignInThrottled  = "session.sign_in_throttled"
	ActSignOut          = "session.sign_out"
	ActTokenRefreshed   = "session.token_refreshed"
	ActRefreshReused    = "session.refresh_token_reused"
	ActSessionsRevoked  = "session.others_revoked"
	ActSessionRevoked   = "session.revoked"
	ActReauth           = "session.reauthenticated"
	ActReauthFailed     = "session.reauthentication_failed"
	ActTOTPEnrolment    = "mfa.totp_enrolment_started"
	ActTOTPEnabled      = "mfa.totp_enabled"
	ActTOTPRemoved      = "mfa.totp_removed"
	ActRecoveryUsed     = "mfa.recovery_code_used"
	ActRecoveryRenewed  = "mfa.recovery_codes_renewed"
	ActMFAFailed        = "mfa.code_failed"
	ActPasswordChanged  = "account.password_changed"
	ActPasswordReset    = "account.password_reset"
	ActProfileChanged   = "profile.changed"
	ActPhoneAdded       = "profile.phone_added"
	ActPhoneRemoved     = "profile.phone_removed"
	ActAddressAdded     = "profile.address_added"
	ActAddressChanged   = "profile.address_changed"
	ActAddressRemoved   = "profile.address_removed"
	ActDataExported     = "account.data_exported"
	ActAccountErased    = "account.erased"
	ActAuditCheckpoint  = "audit.checkpoint"
)

// Audited passkey (WebAuthn) actions.
// The names hold "pass", which gosec takes for a credential.
const (
	ActPasskeyAdded          = "mfa.passkey_added"           // #nosec G101 -- an action name
	ActPasskeyRenamed        = "mfa.passkey_renamed"         // #nosec G101 -- an action name
	ActPasskeyRemoved        = "mfa.passkey_removed"         // #nosec G101 -- an action name
	ActPasskeyUsed           = "mfa.passkey_used"            // #nosec G101 -- an action name
	ActPasskeyFailed         = "mfa.passkey_failed"          // #nosec G101 -- an action name
	ActPasskeyCloneSuspected = "mfa.passkey_clone_suspected" // #nosec G101 -- an action name
)

// TargetCustomer is the target kind of events about a customer.
const TargetCustomer = "customer"
