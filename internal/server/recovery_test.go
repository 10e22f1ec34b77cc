package server

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"strings"
	"testing"

	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/testutil"
	"github.com/resguardo/resguardo/internal/vault"
)

// storedRecovery is one recovery_codes row as a database dump shows it.
type storedRecovery struct {
	hash  []byte
	keyID sql.NullInt64
	used  bool
}

func recoveryRows(t *testing.T, raw *sql.DB, customerID string) []storedRecovery {
	t.Helper()
	rows, err := raw.QueryContext(t.Context(), `SELECT code_hash, pepper_key_id, used_at IS NOT NULL FROM recovery_codes WHERE customer_id = ?`, customerID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []storedRecovery
	for rows.Next() {
		var r storedRecovery
		if err := rows.Scan(&r.hash, &r.keyID, &r.used); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func holds(rows []storedRecovery, h []byte) bool {
	for _, r := range rows {
		if bytes.Equal(r.hash, h) {
			return true
		}
	}
	return false
}

// signInWithCode runs the password step and then the second factor with
// code, and returns the status of the second step.
func (ts *testServer) signInWithCode(t *testing.T, email, code string) int {
	t.Helper()
	challenge := ts.passwordStep(t, email)
	return ts.apiCall(t, "POST", "/api/v1/auth/mfa", "", map[string]string{"mfa_token": challenge, "code": code}, nil).StatusCode
}

// Recovery codes are stored as an HMAC under the pepper, bound to the
// customer: not as SHA-256 of the code, and not as anything a dump alone
// can recompute. Each still works once and only once, across a pepper
// rotation too.
func TestRecoveryCodesStoredUnderThePepper(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		const email = "pepper@example.com"
		tk := ts.signUp(t, email, "Pepper")
		_, codes := ts.enrolTOTP(t, tk.AccessToken)
		var me struct {
			ID string `json:"id"`
		}
		ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, &me)
		raw := testutil.RawDB(t, ts.env.DSN, ts.env.DataDir)
		rows := recoveryRows(t, raw, me.ID)
		if len(rows) != len(codes) {
			t.Fatalf("%d stored codes, want %d", len(rows), len(codes))
		}
		// Someone holding only the dump guesses codes (here: the right
		// ones) and hashes them every unkeyed way, and under a key set of
		// their own: nothing matches.
		other, err := vault.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range codes {
			bare := strings.ReplaceAll(c, "-", "")
			for _, guess := range [][]byte{auth.RecoveryCodeDigest(c), sha(c), sha(bare), sha(strings.ToLower(bare))} {
				if holds(rows, guess) {
					t.Errorf("the dump holds an unkeyed hash of code %s", c)
				}
			}
			theirs, err := other.RecoveryMAC(me.ID, auth.RecoveryCodeDigest(c))
			if err != nil {
				t.Fatal(err)
			}
			if holds(rows, theirs.MAC) {
				t.Error("a MAC under another key set matches: the stored form does not depend on the pepper")
			}
			ours, err := ts.env.Vault.RecoveryMAC(me.ID, auth.RecoveryCodeDigest(c))
			if err != nil {
				t.Fatal(err)
			}
			if !holds(rows, ours.MAC) {
				t.Errorf("code %s is not stored as its MAC under the pepper", c)
			}
			// The same code of another customer would store differently.
			if elsewhere, _ := ts.env.Vault.RecoveryMAC("ANOTHERCUSTOMERID", auth.RecoveryCodeDigest(c)); bytes.Equal(elsewhere.MAC, ours.MAC) {
				t.Error("the stored form is not bound to the customer")
			}
		}
		for _, r := range rows {
			if !r.keyID.Valid || uint32(r.keyID.Int64) != ts.env.Vault.Primary(vault.PurposePepper) { // #nosec G115 -- a Tink key id
				t.Errorf("stored under key %v, want the primary pepper key %d", r.keyID, ts.env.Vault.Primary(vault.PurposePepper))
			}
		}

		if s := ts.signInWithCode(t, email, codes[0]); s != 200 {
			t.Fatalf("recovery code: %d", s)
		}
		if s := ts.signInWithCode(t, email, codes[0]); s != 400 {
			t.Errorf("recovery code used twice: %d, want 400", s)
		}
		// After a pepper rotation the codes made under the old key still
		// work, once, and hold that key in use.
		old := ts.env.Vault.Primary(vault.PurposePepper)
		if _, err := ts.env.Vault.Rotate(vault.PurposePepper); err != nil {
			t.Fatal(err)
		}
		if s := ts.signInWithCode(t, email, strings.ToLower(codes[1])); s != 200 {
			t.Fatalf("recovery code after a pepper rotation: %d", s)
		}
		if s := ts.signInWithCode(t, email, codes[1]); s != 400 {
			t.Errorf("recovery code used twice after a rotation: %d, want 400", s)
		}
		uses, err := ts.env.DB.Conn().RecoveryCodeKeyUses(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if uses[old] != len(codes)-2 {
			t.Errorf("unused codes under the old pepper key: %d, want %d (they keep it from being retired)", uses[old], len(codes)-2)
		}
	})
}

func sha(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// Codes stored before they were keyed (a bare SHA-256 digest) keep working,
// once each, and the conversion at start keys every one of them under the
// pepper without knowing them, keeping which were used; run again, it
// finds nothing to do.
func TestLegacyRecoveryCodesAreKeyedAndKeepWorking(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		ts := newTestServerOn(t, b)
		const email = "legacy@example.com"
		tk := ts.signUp(t, email, "Legacy")
		_, codes := ts.enrolTOTP(t, tk.AccessToken)
		var me struct {
			ID string `json:"id"`
		}
		ts.apiCall(t, "GET", "/api/v1/me", tk.AccessToken, nil, &me)
		raw := testutil.RawDB(t, ts.env.DSN, ts.env.DataDir)
		// Put the codes back in the form the previous version stored.
		for _, c := range codes {
			m, err := ts.env.Vault.RecoveryMAC(me.ID, auth.RecoveryCodeDigest(c))
			if err != nil {
				t.Fatal(err)
			}
			res, err := raw.ExecContext(t.Context(), `UPDATE recovery_codes SET code_hash = ?, pepper_key_id = NULL WHERE code_hash = ? AND customer_id = ?`,
				auth.RecoveryCodeDigest(c), m.MAC, me.ID)
			if n, _ := res.RowsAffected(); err != nil || n != 1 {
				t.Fatalf("rewrite to the old form: %v (%d rows)", err, n)
			}
		}
		if s := ts.signInWithCode(t, email, codes[0]); s != 200 {
			t.Fatalf("code of the old form: %d", s)
		}
		if s := ts.signInWithCode(t, email, codes[0]); s != 400 {
			t.Errorf("code of the old form used twice: %d, want 400", s)
		}

		n, err := ts.env.Accounts.KeyLegacyRecoveryCodes(t.Context())
		if err != nil || n != len(codes) {
			t.Fatalf("conversion: %d, %v; want %d", n, err, len(codes))
		}
		rows := recoveryRows(t, raw, me.ID)
		used := 0
		for _, r := range rows {
			if !r.keyID.Valid {
				t.Error("a code is still in the old form")
			}
			if r.used {
				used++
			}
		}
		for _, c := range codes {
			if holds(rows, auth.RecoveryCodeDigest(c)) {
				t.Errorf("the dump still holds the bare digest of %s", c)
			}
		}
		if len(rows) != len(codes) || used != 1 {
			t.Errorf("%d codes, %d used after the conversion; want %d and 1", len(rows), used, len(codes))
		}
		if s := ts.signInWithCode(t, email, codes[0]); s != 400 {
			t.Errorf("a used code works again after the conversion: %d", s)
		}
		if s := ts.signInWithCode(t, email, codes[1]); s != 200 {
			t.Errorf("a converted code: %d, want 200", s)
		}
		if s := ts.signInWithCode(t, email, codes[1]); s != 400 {
			t.Errorf("a converted code used twice: %d, want 400", s)
		}
		if n, err := ts.env.Accounts.KeyLegacyRecoveryCodes(t.Context()); err != nil || n != 0 {
			t.Errorf("second conversion: %d, %v; want nothing to do", n, err)
		}
	})
}
