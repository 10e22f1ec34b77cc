package sqlstore_test

import (
	"crypto/rand"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/testutil"
)

// Every write to a customer's phones or addresses raises the customer's
// contacts version in the same transaction, and a write that changes
// nothing does not: the version is what lets a server answer contacts from
// its cache (contacts.go), so a write that missed it would leave other
// servers showing old contacts.
func TestContactsVersionFollowsEveryWrite(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		env := testutil.NewEnv(t, b, nil)
		testutil.SeedCustomers(t, env, 1)
		raw := testutil.RawDB(t, env.DSN, env.DataDir)
		ctx := t.Context()
		var customerID, phoneID string
		if err := raw.QueryRowContext(ctx, `SELECT customer_id, id FROM customer_phones`).Scan(&customerID, &phoneID); err != nil {
			t.Fatal(err)
		}
		version := func() int64 {
			t.Helper()
			var v int64
			if err := raw.QueryRowContext(ctx, `SELECT contacts_version FROM customers WHERE id = ?`, customerID).Scan(&v); err != nil {
				t.Fatal(err)
			}
			return v
		}
		blob := func() []byte { b := make([]byte, 32); _, _ = rand.Read(b); return b }
		// A signed-in app, to read the contacts as /me does.
		hash, family := blob(), rand.Text()
		if err := env.DB.Tx(ctx, func(c sqlstore.Conn) error {
			return errors.Join(c.InsertTokenFamily(ctx, sqlstore.TokenFamilyRow{ID: family, CustomerID: customerID, DeviceSealed: blob(), Client: "test"}),
				c.InsertAppToken(ctx, sqlstore.AppTokenRow{TokenHash: hash, FamilyID: family, Kind: "access", ExpiresAt: 1 << 40}))
		}); err != nil {
			t.Fatal(err)
		}
		count := func(table string) int {
			t.Helper()
			var n int
			if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE customer_id = ?`, customerID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		// Two reads after each write: both see the database's contacts, and
		// the first leaves the cache at the database's version, so the
		// second is answered from it.
		reads := func(what string) {
			t.Helper()
			for range 2 {
				acc, err := env.DB.Conn().AppAccessByToken(ctx, hash, true)
				if err != nil {
					t.Fatalf("%s: read: %v", what, err)
				}
				if len(acc.Phones) != count("customer_phones") || len(acc.Addresses) != count("customer_addresses") {
					t.Errorf("%s: read %d phones and %d addresses", what, len(acc.Phones), len(acc.Addresses))
				}
				if v, ok := env.DB.CachedContactsVersion(customerID); !ok || v != version() {
					t.Errorf("%s: cache holds version %d (%v), the database %d", what, v, ok, version())
				}
			}
		}
		reads("before any write")
		newPhone, newAddr := rand.Text(), rand.Text()
		writes := []struct {
			what    string
			changes bool
			fn      func(c sqlstore.Conn) error
		}{
			{"add a phone", true, func(c sqlstore.Conn) error {
				return c.InsertPhone(ctx, sqlstore.PhoneRow{ID: newPhone, CustomerID: customerID, NumberIndex: blob(), Sealed: blob(), CreatedAt: 1})
			}},
			{"re-index a phone", true, func(c sqlstore.Conn) error { return c.ReplacePhoneIndex(ctx, customerID, phoneID, blob()) }},
			{"delete a phone", true, func(c sqlstore.Conn) error { return c.DeletePhone(ctx, customerID, newPhone) }},
			{"delete a phone that is not there", false, func(c sqlstore.Conn) error { return c.DeletePhone(ctx, customerID, newPhone) }},
			{"add an address", true, func(c sqlstore.Conn) error {
				return c.InsertAddress(ctx, sqlstore.AddressRow{ID: newAddr, CustomerID: customerID, Sealed: blob(), CreatedAt: 1, UpdatedAt: 1})
			}},
			{"change an address", true, func(c sqlstore.Conn) error { return c.UpdateAddress(ctx, customerID, newAddr, blob(), 2) }},
			{"change another customer's address", false, func(c sqlstore.Conn) error { return c.UpdateAddress(ctx, "someone-else", newAddr, blob(), 3) }},
			{"delete an address", true, func(c sqlstore.Conn) error { return c.DeleteAddress(ctx, customerID, newAddr) }},
		}
		for _, w := range writes {
			before := version()
			err := env.DB.Tx(ctx, func(c sqlstore.Conn) error { return w.fn(c) })
			after := version()
			switch {
			case w.changes && err != nil:
				t.Fatalf("%s: %v", w.what, err)
			case w.changes && after != before+1:
				t.Errorf("%s: contacts version %d -> %d, want one more", w.what, before, after)
			case !w.changes && resguardo.ErrorCode(err) != resguardo.ENotFound:
				t.Errorf("%s: %v, want not found", w.what, err)
			case !w.changes && after != before:
				t.Errorf("%s changed nothing but the contacts version went %d -> %d", w.what, before, after)
			}
			reads("after: " + w.what)
		}

		// A read inside a transaction sees its uncommitted write and must
		// not leave it in the cache: the transaction may roll back.
		before := version()
		errRollBack := errors.New("roll back")
		err := env.DB.Tx(ctx, func(c sqlstore.Conn) error {
			if err := c.InsertAddress(ctx, sqlstore.AddressRow{ID: rand.Text(), CustomerID: customerID, Sealed: blob(), CreatedAt: 5, UpdatedAt: 5}); err != nil {
				return err
			}
			if acc, err := c.AppAccessByToken(ctx, hash, true); err != nil || len(acc.Addresses) != 1 {
				t.Errorf("read in the transaction: %v, %d addresses", err, len(acc.Addresses))
			}
			return errRollBack
		})
		if !errors.Is(err, errRollBack) {
			t.Fatal(err)
		}
		if v, _ := env.DB.CachedContactsVersion(customerID); v != before {
			t.Errorf("after a rolled-back write the cache holds version %d, the database %d", v, before)
		}
		reads("after a rolled-back write")
	})
}

// No statement of the store writes customer_phones or customer_addresses
// without raising the contacts version: every function that holds such a
// statement also calls bumpContacts. The erasure steps are the one
// exception; they delete the customer row, and its version with it.
func TestEveryContactsWriteRaisesTheVersion(t *testing.T) {
	write := regexp.MustCompile(`(?i)(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+customer_(phones|addresses)\b`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	seen := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			var (
				writes []string
				bumps  bool
			)
			ast.Inspect(decl, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.BasicLit:
					if n.Kind == token.STRING && write.MatchString(n.Value) {
						writes = append(writes, write.FindString(n.Value))
					}
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "bumpContacts" {
						bumps = true
					}
				}
				return true
			})
			if len(writes) == 0 {
				continue
			}
			seen += len(writes)
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if !bumps {
					t.Errorf("%s: %s writes %v without bumpContacts", name, d.Name.Name, writes)
				}
			case *ast.GenDecl:
				if !isEraseSteps(d) {
					t.Errorf("%s: a declaration at %s writes %v outside a function that calls bumpContacts", name, fset.Position(d.Pos()), writes)
				}
			}
		}
	}
	if seen < 6 {
		t.Fatalf("found %d contacts writes in the store's statements; the scan is not reading them", seen)
	}
}

func isEraseSteps(d *ast.GenDecl) bool {
	for _, s := range d.Specs {
		if v, ok := s.(*ast.ValueSpec); ok && len(v.Names) == 1 && v.Names[0].Name == "eraseSteps" {
			return true
		}
	}
	return false
}
