package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// keyringTimeout bounds one key set read or write: they run outside any
// request (at start, in the reload loop, in keys commands).
const keyringTimeout = 10 * time.Second

// Keyring keeps the deployment's sealed key set in the keyring table. It
// implements vault.Storage.
type Keyring struct{ db *DB }

// Keyring returns the key set store of db.
func (db *DB) Keyring() *Keyring { return &Keyring{db: db} }

// LoadKeyring returns the sealed key set, or an error wrapping
// fs.ErrNotExist when the database records none.
func (k *Keyring) LoadKeyring() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), keyringTimeout)
	defer cancel()
	var data []byte
	err := k.db.Conn().queryRow(ctx, `SELECT keyset FROM keyring WHERE id = 1`).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("key set in %s: %w", k.db.Where, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("read the key set from %s: %w", k.db.Where, err)
	}
	return data, nil
}

// CreateKeyring stores the first key set; an error wrapping fs.ErrExist if
// the database already has one.
func (k *Keyring) CreateKeyring(data []byte, binding string) error {
	ctx, cancel := context.WithTimeout(context.Background(), keyringTimeout)
	defer cancel()
	_, err := k.db.Conn().exec(ctx, `INSERT INTO keyring (id, generation, binding, keyset, updated_at) VALUES (1, 1, ?, ?, ?)`,
		binding, data, time.Now().Unix())
	if isUniqueViolation(err) {
		return fmt.Errorf("key set in %s: %w", k.db.Where, fs.ErrExist)
	}
	if err != nil {
		return fmt.Errorf("store the key set in %s: %w", k.db.Where, err)
	}
	return nil
}

// ReplaceKeyring replaces old by next in one statement that matches the old
// value, so two processes changing the key set at once cannot lose each
// other's keys: the second fails and retries on the new value.
func (k *Keyring) ReplaceKeyring(old, next []byte, binding string) error {
	ctx, cancel := context.WithTimeout(context.Background(), keyringTimeout)
	defer cancel()
	res, err := k.db.Conn().exec(ctx, `UPDATE keyring SET keyset = ?, binding = ?, generation = generation + 1, updated_at = ? WHERE id = 1 AND keyset = ?`,
		next, binding, time.Now().Unix(), old)
	if err != nil {
		return fmt.Errorf("store the key set in %s: %w", k.db.Where, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store the key set in %s: %w", k.db.Where, err)
	}
	if n != 1 {
		return errors.New("the key set in the database was changed by another process meanwhile; retry")
	}
	return nil
}

// KeyState is what a database records about its key set, read without
// writing anything, before any key is used.
type KeyState struct {
	// Recorded: a key set is stored (the keyring row exists).
	Recorded bool
	// Binding is the stored binding (JSON), when Recorded.
	Binding string
	// Instance is the deployment's id, "" when none was recorded yet.
	Instance string
	// HasData: the database holds customers, staff or audit entries, which
	// only the key set they were written under can read or verify.
	HasData bool
	// Tables is false for a database with no resguardo tables at all.
	Tables bool
}

// dataTables are the tables whose rows only their key set can read (sealed
// fields, wrapped data keys, peppered hashes, MACs of the audit chain).
var dataQueries = []struct{ table, query string }{
	{"customers", `SELECT 1 FROM customers LIMIT 1`},
	{"staff", `SELECT 1 FROM staff LIMIT 1`},
	{"audit_log", `SELECT 1 FROM audit_log LIMIT 1`},
}

// KeyState reads the key set state. It only reads: commands call it before
// anything else, so that a database is never written under a key set it
// does not belong to.
func (db *DB) KeyState(ctx context.Context) (KeyState, error) {
	var st KeyState
	c := db.Conn()
	exists := func(table string) (bool, error) {
		var n int
		var err error
		if db.dialect == MySQL {
			err = c.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`, table).Scan(&n)
		} else {
			err = c.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&n)
		}
		if err != nil {
			return false, fmt.Errorf("inspect %s: %w", db.Where, err)
		}
		return n > 0, nil
	}
	if ok, err := exists("settings"); err != nil {
		return st, err
	} else if ok {
		st.Tables = true
		err := c.q.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, "instance_id").Scan(&st.Instance)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return st, fmt.Errorf("inspect %s: %w", db.Where, err)
		}
	}
	if ok, err := exists("keyring"); err != nil {
		return st, err
	} else if ok {
		err := c.q.QueryRowContext(ctx, `SELECT binding FROM keyring WHERE id = 1`).Scan(&st.Binding)
		switch {
		case err == nil:
			st.Recorded = true
		case !errors.Is(err, sql.ErrNoRows):
			return st, fmt.Errorf("inspect %s: %w", db.Where, err)
		}
	}
	for _, d := range dataQueries {
		ok, err := exists(d.table)
		if err != nil {
			return st, err
		}
		if !ok {
			continue
		}
		var one int
		err = c.q.QueryRowContext(ctx, d.query).Scan(&one)
		if err == nil {
			st.HasData = true
			break
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return st, fmt.Errorf("inspect %s: %w", db.Where, err)
		}
	}
	return st, nil
}
