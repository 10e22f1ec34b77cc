package resguardo_test

import (
	"testing"

	"github.com/resguardo/resguardo"
)

// The expected matrix is written out here a second time, from docs/contract.md §5, so
// that loosening any single cell of the table in role.go fails this test.
func TestPermissionTable(t *testing.T) {
	const (
		a = 1 << iota // agent
		l             // lead
		d             // admin
		u             // auditor
	)
	want := map[resguardo.Permission]int{
		resguardo.PermCustomerSearch:   a | l,
		resguardo.PermCustomerReveal:   a | l,
		resguardo.PermCustomerEdit:     a | l,
		resguardo.PermCustomerCritical: l,
		resguardo.PermCustomerExport:   l,
		resguardo.PermCustomerErase:    l,
		resguardo.PermStaffManage:      d,
		resguardo.PermKeysRotate:       d,
		resguardo.PermAuditRead:        d | u,
	}
	bits := map[resguardo.Role]int{resguardo.RoleAgent: a, resguardo.RoleLead: l, resguardo.RoleAdmin: d, resguardo.RoleAuditor: u}
	for perm, mask := range want {
		for _, role := range resguardo.Roles() {
			if got, exp := role.Can(perm), mask&bits[role] != 0; got != exp {
				t.Errorf("%s.Can(%s) = %v, want %v", role, perm, got, exp)
			}
		}
	}
	if resguardo.Role("root").Can(resguardo.PermAuditRead) || resguardo.Role("").Valid() {
		t.Error("an unknown role must hold no permission")
	}
}
