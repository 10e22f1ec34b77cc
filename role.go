package resguardo

// Role is a staff member's role. Customers have no role: they only ever reach
// their own data.
type Role string

const (
	RoleAgent   Role = "agent"
	RoleLead    Role = "lead"
	RoleAdmin   Role = "admin"
	RoleAuditor Role = "auditor"
)

// Permission is one thing a staff member may do. Route policies and store
// queries both ask Can; nothing else decides what a role may do.
type Permission string

const (
	PermCustomerSearch   Permission = "customer.search"   // search and view masked
	PermCustomerReveal   Permission = "customer.reveal"   // reveal one field with a reason
	PermCustomerEdit     Permission = "customer.edit"     // name and postal addresses
	PermCustomerCritical Permission = "customer.critical" // e-mail, phone, 2FA reset, lock, sessions (step-up)
	PermCustomerExport   Permission = "customer.export"   // four-eyes
	PermCustomerErase    Permission = "customer.erase"    // four-eyes
	PermStaffManage      Permission = "staff.manage"      // lead/admin grants need a second admin
	PermKeysRotate       Permission = "keys.rotate"       // step-up
	PermAuditRead        Permission = "audit.read"
)

// permissions is the table of docs/contract.md §5, in one place. Administrators hold no
// customer permission: separation of duties.
var permissions = map[Role][]Permission{
	RoleAgent: {PermCustomerSearch, PermCustomerReveal, PermCustomerEdit},
	RoleLead: {PermCustomerSearch, PermCustomerReveal, PermCustomerEdit,
		PermCustomerCritical, PermCustomerExport, PermCustomerErase},
	RoleAdmin:   {PermStaffManage, PermKeysRotate, PermAuditRead},
	RoleAuditor: {PermAuditRead},
}

// Roles lists every role, in a stable order.
func Roles() []Role { return []Role{RoleAgent, RoleLead, RoleAdmin, RoleAuditor} }

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	_, ok := permissions[r]
	return ok
}

// Can reports whether role r holds permission p. Unknown roles hold nothing.
func (r Role) Can(p Permission) bool {
	for _, q := range permissions[r] {
		if q == p {
			return true
		}
	}
	return false
}
