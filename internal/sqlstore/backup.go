package sqlstore

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Backups hold the database as it is: personal fields sealed, data keys
// wrapped, the key set sealed under the master key. The master key is never
// in them (it is not in the database), so a backup alone opens nothing.

// statementEnd ends every statement of a MySQL backup, on a line of its
// own. SQL clients (mariadb < FILE) read it as a comment after the ";";
// Restore splits on it, so no statement text ever has to be parsed.
const statementEnd = ";\n-- resguardo:end\n"

// backupHeader starts a MySQL backup file.
const backupHeader = "-- resguardo backup (MySQL): load with `resguardo restore --in FILE` or `mariadb DB < FILE` into an empty database\n"

// maxInsert bounds one INSERT statement, well under MariaDB's default
// max_allowed_packet (16 MiB).
const maxInsert = 1 << 20

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// Backup writes a consistent copy of the database, taken online, to a new
// file at path (mode 0600; an existing file is never overwritten). SQLite:
// VACUUM INTO, a complete database file as of one read transaction. MySQL:
// every table read in one transaction WITH CONSISTENT SNAPSHOT (InnoDB
// serves it from its undo log, writers are not blocked), written as SQL.
func (db *DB) Backup(ctx context.Context, path string) error {
	return db.BackupProgress(ctx, path, nil)
}

// BackupProgress is Backup telling progress, if not nil, how far it is:
// for SQLite the bytes of the copy written so far out of the database's
// size (looked at every progressEvery while VACUUM INTO runs), for MySQL
// the rows written out of InnoDB's estimate of the row count.
func (db *DB) BackupProgress(ctx context.Context, path string, progress func(done, total int64)) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the operator names the backup file
	if err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	if db.dialect == SQLite {
		// VACUUM INTO accepts an existing empty file, and so keeps its mode.
		_ = f.Close()
		stop := func() {}
		if progress != nil {
			stop = db.watchCopy(ctx, path, progress)
		}
		_, err := db.sql.ExecContext(ctx, `VACUUM INTO ?`, path)
		stop()
		if err != nil {
			_ = os.Remove(path)
			return fmt.Errorf("backup of %s: %w", db.Where, err)
		}
		if fi, err := os.Stat(path); err == nil && progress != nil {
			progress(fi.Size(), fi.Size())
		}
		return nil
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = db.dumpMySQL(ctx, w, progress)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("backup of %s: %w", db.Where, err)
	}
	return nil
}

// progressEvery is how often the size of a SQLite copy is looked at.
const progressEvery = 250 * time.Millisecond

// watchCopy tells progress the size of the copy at path, out of the
// database's, until the returned stop is called.
func (db *DB) watchCopy(ctx context.Context, path string, progress func(done, total int64)) (stop func()) {
	var pages, size int64
	if err := db.sql.QueryRowContext(ctx, `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`).Scan(&size); err == nil {
		pages = size
	}
	progress(0, pages)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if fi, err := os.Stat(path); err == nil {
					progress(fi.Size(), pages)
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func (db *DB) dumpMySQL(ctx context.Context, w io.Writer, progress func(done, total int64)) error {
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ`); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`) //nolint:errcheck // read-only
	var tables []string
	rows, err := conn.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			_ = rows.Close()
			return err
		}
		if !identifier.MatchString(name) {
			_ = rows.Close()
			return fmt.Errorf("table name %q is not one resguardo creates", name)
		}
		tables = append(tables, name)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "%s-- taken %s from %s\n", backupHeader, time.Now().UTC().Format(time.RFC3339), db.Where); err != nil {
		return err
	}
	for _, s := range []string{"SET NAMES utf8mb4", "SET FOREIGN_KEY_CHECKS = 0", "SET UNIQUE_CHECKS = 0"} {
		if _, err := io.WriteString(w, s+statementEnd); err != nil {
			return err
		}
	}
	var total, written int64
	onRow := func() {}
	if progress != nil {
		// An estimate (InnoDB samples it), good enough for time left.
		if err := conn.QueryRowContext(ctx, `SELECT COALESCE(SUM(table_rows), 0) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'`).Scan(&total); err != nil {
			return err
		}
		progress(0, total)
		onRow = func() {
			if written++; written%1000 == 0 {
				progress(written, max(total, written))
			}
		}
	}
	for _, t := range tables {
		if err := dumpTable(ctx, conn, t, w, onRow); err != nil {
			return fmt.Errorf("table %s: %w", t, err)
		}
	}
	_, err = io.WriteString(w, "SET FOREIGN_KEY_CHECKS = 1"+statementEnd)
	return err
}

// dumpTable writes one table's definition and rows. Every value is written
// as a hexadecimal literal (numbers as digits, checked): no stored byte is
// ever interpreted as SQL.
func dumpTable(ctx context.Context, conn *sql.Conn, table string, w io.Writer, onRow func()) error {
	var name, create string
	// Identifiers cannot be placeholders; table was checked against
	// identifier and comes from information_schema.
	if err := conn.QueryRowContext(ctx, "SHOW CREATE TABLE `"+table+"`").Scan(&name, &create); err != nil { // #nosec G202 -- checked identifier
		return err
	}
	if _, err := fmt.Fprintf(w, "DROP TABLE IF EXISTS `%s`%s%s%s", table, statementEnd, create, statementEnd); err != nil {
		return err
	}
	rows, err := conn.QueryContext(ctx, "SELECT * FROM `"+table+"`") // #nosec G202 -- checked identifier
	if err != nil {
		return err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return err
	}
	vals := make([]any, len(types))
	ptrs := make([]any, len(types))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var stmt bytes.Buffer
	flush := func() error {
		if stmt.Len() == 0 {
			return nil
		}
		stmt.WriteString(statementEnd)
		_, err := w.Write(stmt.Bytes())
		stmt.Reset()
		return err
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		if stmt.Len() == 0 {
			fmt.Fprintf(&stmt, "INSERT INTO `%s` VALUES ", table)
		} else {
			stmt.WriteString(",")
		}
		stmt.WriteString("(")
		for i, v := range vals {
			if i > 0 {
				stmt.WriteString(",")
			}
			if err := writeValue(&stmt, types[i].DatabaseTypeName(), v); err != nil {
				return fmt.Errorf("column %s: %w", types[i].Name(), err)
			}
		}
		stmt.WriteString(")")
		onRow()
		if stmt.Len() >= maxInsert {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return flush()
}

var number = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

func writeValue(b *bytes.Buffer, typ string, v any) error {
	var raw []byte
	switch x := v.(type) {
	case nil:
		b.WriteString("NULL")
		return nil
	case time.Time:
		// The session's time zone is UTC (MySQLConfig).
		b.WriteString("'" + x.UTC().Format("2006-01-02 15:04:05.999999") + "'")
		return nil
	case []byte:
		raw = x
	case string:
		raw = []byte(x)
	case int64:
		raw = strconv.AppendInt(nil, x, 10)
	case uint64:
		raw = strconv.AppendUint(nil, x, 10)
	case float64:
		raw = strconv.AppendFloat(nil, x, 'g', -1, 64)
	default:
		return fmt.Errorf("a value of type %T", v)
	}
	switch strings.TrimPrefix(typ, "UNSIGNED ") {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "DECIMAL", "FLOAT", "DOUBLE":
		// A hex literal in a numeric column would be read as a number of
		// its own (X'31' is 49), so numbers go as digits, checked.
		if !number.Match(raw) {
			return errors.New("a numeric column holds something other than a number")
		}
		b.Write(raw)
	default:
		if len(raw) == 0 {
			b.WriteString("''")
			return nil
		}
		b.WriteString("X'")
		b.WriteString(hex.EncodeToString(raw))
		b.WriteString("'")
	}
	return nil
}

// Restore loads a backup into this database, which must be empty: a SQLite
// backup file is copied into place (the database must not be open: call it
// on a fresh data directory through RestoreSQLite), a MySQL backup is
// executed statement by statement.
func (db *DB) Restore(ctx context.Context, r io.Reader) error {
	if db.dialect != MySQL {
		return errors.New("restore: an embedded database is restored by RestoreSQLite")
	}
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()`).Scan(&n); err != nil {
		return fmt.Errorf("restore into %s: %w", db.Where, err)
	}
	if n != 0 {
		return fmt.Errorf("restore into %s: the database is not empty (%d tables): restore into a new, empty database", db.Where, n)
	}
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	br := bufio.NewReaderSize(r, 1<<20)
	head, err := br.ReadString('\n')
	if err != nil || head != backupHeader {
		return errors.New("restore: not a resguardo MySQL backup")
	}
	var stmt strings.Builder
	for {
		line, err := br.ReadString('\n')
		if line == "-- resguardo:end\n" {
			q := strings.TrimSuffix(stmt.String(), ";\n")
			stmt.Reset()
			// The statements are the backup's own; identifiers and values
			// in them were written by Backup.
			if _, err := conn.ExecContext(ctx, q); err != nil { // #nosec G202 -- a backup file the operator names
				return fmt.Errorf("restore into %s: %w", db.Where, err)
			}
		} else if !strings.HasPrefix(line, "-- ") || stmt.Len() > 0 {
			stmt.WriteString(line)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if strings.TrimSpace(stmt.String()) != "" {
		return errors.New("restore: the backup ends in the middle of a statement (truncated?)")
	}
	return nil
}

// RestoreSQLite puts a SQLite backup file into dataDir as its database. It
// refuses a data directory that already has one.
func RestoreSQLite(backup, dataDir string) error {
	if err := EnsureDataDir(dataDir); err != nil {
		return err
	}
	in, err := os.Open(backup) // #nosec G304 -- the operator names the backup file
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer in.Close()
	head := make([]byte, 16)
	if _, err := io.ReadFull(in, head); err != nil || string(head) != "SQLite format 3\x00" {
		return errors.New("restore: not a SQLite backup")
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return err
	}
	path := dataDir + string(os.PathSeparator) + SQLiteFile
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- inside the operator's data directory
	if err != nil {
		return fmt.Errorf("restore: %s already has a database, or cannot hold one: %w", dataDir, err)
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}
