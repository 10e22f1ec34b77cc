package sqlstore

import (
	"context"
	"errors"
	"fmt"
)

// SealedValue is one stored ciphertext of a sealed column, with what opens
// it: the row id it is bound to and its owner's wrapped data key.
type SealedValue struct {
	RowID      string
	CustomerID string
	DataKey    []byte // the owner's data key, wrapped by the KEK
	Sealed     []byte
}

// SampleSealed reads up to limit values of a sealed column, for the doctor's
// check that every value is ciphertext. Rows are taken in row-id order from
// the row id from onward, wrapping around to the start: row ids are random,
// so a random from gives a random sample that uses the primary key index
// instead of sorting the whole table.
//
// A table or column name cannot be a placeholder, so the statement names
// them; col must be one of SealedColumns, a static list, and nothing else is
// accepted. Values still travel as ? arguments.
func (c Conn) SampleSealed(ctx context.Context, col SealedColumn, from string, limit int) ([]SealedValue, error) {
	if !isSealedColumn(col) {
		return nil, fmt.Errorf("sample %s: not a registered sealed column", col.Name())
	}
	if limit <= 0 {
		return nil, nil
	}
	head := `SELECT t.` + col.RowID + `, t.` + col.CustomerID + `, c.data_key, t.` + col.Column +
		` FROM ` + col.Table + ` t JOIN customers c ON c.id = t.` + col.CustomerID
	order := ` ORDER BY t.` + col.RowID + ` LIMIT ?`
	out, err := c.sealedValues(ctx, col, head+` WHERE t.`+col.RowID+` >= ?`+order, from, limit) // #nosec G202 -- names from the static SealedColumns registry
	if err != nil || len(out) >= limit {
		return out, err
	}
	rest, err := c.sealedValues(ctx, col, head+` WHERE t.`+col.RowID+` < ?`+order, from, limit-len(out)) // #nosec G202 -- names from the static SealedColumns registry
	return append(out, rest...), err
}

func (c Conn) sealedValues(ctx context.Context, col SealedColumn, query, from string, limit int) ([]SealedValue, error) {
	rows, err := c.query(ctx, query, from, limit)
	if err != nil {
		return nil, fmt.Errorf("sample %s: %w", col.Name(), err)
	}
	defer rows.Close()
	var out []SealedValue
	for rows.Next() {
		var v SealedValue
		if err := rows.Scan(&v.RowID, &v.CustomerID, &v.DataKey, &v.Sealed); err != nil {
			return nil, fmt.Errorf("sample %s: %w", col.Name(), err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sample %s: %w", col.Name(), err)
	}
	return out, nil
}

func isSealedColumn(col SealedColumn) bool {
	for _, s := range SealedColumns {
		if s == col {
			return true
		}
	}
	return false
}

// Grants returns the lines of SHOW GRANTS for the connected MySQL user, for
// the doctor's least-privilege check. A line may quote a password hash
// (MariaDB's IDENTIFIED BY PASSWORD): callers print privilege names only.
func (c Conn) Grants(ctx context.Context) ([]string, error) {
	if c.dialect != MySQL {
		return nil, errors.New("grants: only MySQL has database users")
	}
	rows, err := c.query(ctx, `SHOW GRANTS FOR CURRENT_USER()`)
	if err != nil {
		return nil, fmt.Errorf("show grants: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, fmt.Errorf("show grants: %w", err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("show grants: %w", err)
	}
	return out, nil
}

// versionTable is goose's default version table, which the migrator uses.
const versionTable = "goose_db_version"

// Migrated reports whether migrations ever ran on this database, by the
// presence of the version table. It only reads: asking the migrator for
// the version (SchemaVersion) creates the table when it is missing, and
// the doctor must change nothing.
func (c Conn) Migrated(ctx context.Context) (bool, error) {
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
	if c.dialect == MySQL {
		q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`
	}
	var n int
	if err := c.queryRow(ctx, q, versionTable).Scan(&n); err != nil {
		return false, fmt.Errorf("look for the schema version table: %w", err)
	}
	return n > 0, nil
}
