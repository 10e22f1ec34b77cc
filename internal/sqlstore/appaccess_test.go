package sqlstore

import (
	"bytes"
	"testing"
)

// The folded contacts of SQLite's one-row /me statement are read back
// whole and in the order they were added; anything malformed (a record cut
// short, a field too many, a blob that is not hex, a number that is not a
// number) fails the read instead of dropping or inventing a contact.
func TestParseContacts(t *testing.T) {
	phones := "P2 20 AABB 0102|P1 10 CCDD 0304"
	addrs := "A1 5 6 0A0B"
	ps, as, err := parseContacts("C1", phones, addrs)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].ID != "P1" || ps[1].ID != "P2" || ps[0].CreatedAt != 10 ||
		!bytes.Equal(ps[0].NumberIndex, []byte{0xcc, 0xdd}) || !bytes.Equal(ps[0].Sealed, []byte{3, 4}) || ps[0].CustomerID != "C1" {
		t.Errorf("phones: %+v", ps)
	}
	if len(as) != 1 || as[0].ID != "A1" || as[0].CreatedAt != 5 || as[0].UpdatedAt != 6 || !bytes.Equal(as[0].Sealed, []byte{0x0a, 0x0b}) || as[0].CustomerID != "C1" {
		t.Errorf("addresses: %+v", as)
	}
	if ps, as, err := parseContacts("C1", "", ""); err != nil || len(ps) != 0 || len(as) != 0 {
		t.Errorf("no contacts: %v %v %v", ps, as, err)
	}
	for _, bad := range []struct{ phones, addrs string }{
		{"P1 10 CCDD", ""},           // a field short
		{"P1 10 CCDD 0304 00", ""},   // a field too many
		{"P1 10 CCDD 030", ""},       // odd hex: a cut blob
		{"P1 10 XYZW 0304", ""},      // not hex
		{"P1 ten CCDD 0304", ""},     // not a number
		{"", "A1 5 6"},               // an address a field short
		{"", "A1 5 six 0A0B"},        // not a number
		{"", "A1 5 6 0A0B|A2 5 6 0"}, // the second record cut
	} {
		if _, _, err := parseContacts("C1", bad.phones, bad.addrs); err == nil {
			t.Errorf("parseContacts(%q, %q) accepted a malformed record", bad.phones, bad.addrs)
		}
	}
}
