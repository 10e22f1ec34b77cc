package sqlstore

// SealedColumn names a column that holds personal data sealed by the vault,
// and the two columns needed to open a value: the row id bound into the
// ciphertext's associated data, and the id of the customer whose data key
// sealed it.
type SealedColumn struct {
	Table      string
	Column     string
	RowID      string // column whose value is the row id passed to DataKey.Seal
	CustomerID string // column holding the owning customer's id ("id" for customers)
}

// Name is "table.column", as reports name it.
func (s SealedColumn) Name() string { return s.Table + "." + s.Column }

// SealedColumns lists every sealed column in the schema, with the exact
// table, column and row id the account package passes to DataKey.Seal. It
// is what `resguardo doctor` samples to prove no personal data is stored in
// clear; a test fails if a migration adds a *sealed* column missing here.
var SealedColumns = []SealedColumn{
	SealedCustomerEmail, SealedCustomerName, SealedPhone, SealedAddress, SealedSessionDevice, SealedFamilyDevice,
	SealedOutbox, SealedPasskeyRecord, SealedPasskeyName, SealedTOTP, SealedPendingEmail,
}

// The sealed columns by name: the account package seals and opens with these,
// so each table and column name is written once, here.
var (
	SealedCustomerEmail = SealedColumn{Table: "customers", Column: "email_sealed", RowID: "id", CustomerID: "id"}
	SealedCustomerName  = SealedColumn{Table: "customers", Column: "name_sealed", RowID: "id", CustomerID: "id"}
	SealedPhone         = SealedColumn{Table: "customer_phones", Column: "sealed", RowID: "id", CustomerID: "customer_id"}
	SealedAddress       = SealedColumn{Table: "customer_addresses", Column: "sealed", RowID: "id", CustomerID: "customer_id"}
	SealedSessionDevice = SealedColumn{Table: "web_sessions", Column: "device_sealed", RowID: "id", CustomerID: "customer_id"}
	SealedFamilyDevice  = SealedColumn{Table: "token_families", Column: "device_sealed", RowID: "id", CustomerID: "customer_id"}
	SealedOutbox        = SealedColumn{Table: "outbox", Column: "sealed", RowID: "id", CustomerID: "customer_id"}
	SealedPasskeyRecord = SealedColumn{Table: "customer_passkeys", Column: "record_sealed", RowID: "id", CustomerID: "customer_id"}
	SealedPasskeyName   = SealedColumn{Table: "customer_passkeys", Column: "name_sealed", RowID: "id", CustomerID: "customer_id"}
	// One row per customer: the customer id is the row id.
	SealedTOTP         = SealedColumn{Table: "customer_totp", Column: "secret_sealed", RowID: "customer_id", CustomerID: "customer_id"}
	SealedPendingEmail = SealedColumn{Table: "pending_emails", Column: "email_sealed", RowID: "customer_id", CustomerID: "customer_id"}
)

// StaffSealedColumns are sealed columns of staff accounts (not customer
// data): sealed under the staff member's own data key, opened by the staff
// package. doctor does not sample them; they are listed so that the schema
// test accounts for every sealed column.
var StaffSealedColumns = []SealedColumn{
	{Table: "staff", Column: "totp_sealed", RowID: "id", CustomerID: "id"},
	{Table: "staff", Column: "name_sealed", RowID: "id", CustomerID: "id"},
	{Table: "staff_outbox", Column: "sealed", RowID: "id", CustomerID: "staff_id"},
	{Table: "staff_passkeys", Column: "record_sealed", RowID: "id", CustomerID: "staff_id"},
	{Table: "staff_passkeys", Column: "name_sealed", RowID: "id", CustomerID: "staff_id"},
}
