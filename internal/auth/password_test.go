package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/unicode/norm"

	"github.com/resguardo/resguardo"
)

// phrase returns a non-repeating text of exactly n runes.
func phrase(n int) string {
	var b strings.Builder
	for i := 0; utf8.RuneCountInString(b.String()) < n; i++ {
		fmt.Fprintf(&b, "lamp%d owl ", i)
	}
	return string([]rune(b.String())[:n])
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		name, password string
		wantOK         bool
	}{
		{"11 characters", "zq7-lamp-vx", false},
		{"12 characters", "zq7-lamp-vex", true},
		{"128 characters", phrase(128), true},
		{"129 characters", phrase(129), false},
		{"empty", "", false},
		{"12 emoji are 12 characters", "🔒🌵🎲🚲🧀🎻🦉🍄🌋🧭🪁🎈", true},
		{"11 emoji are 11 characters, not 44 bytes", "🔒🌵🎲🚲🧀🎻🦉🍄🌋🧭🪁", false},
		{"11 characters after NFC (13 code points before)", "me\u0301dico a\u0301gil", false},
		{"12 characters after NFC", "me\u0301dico a\u0301gil!", true},
		{"128 multi-byte characters", strings.Repeat("ñ", 60) + phrase(68), true},
		{"no composition rules: lower case and spaces", "correct horse battery staple", true},
		{"Spanish passphrase", "mi gato come pimientos azules", true},
		{"mixed", "Tr0ub4dor&3-zebra", true},
		{"contract example password1234", "password1234", false},
		{"contract example 123456789012", "123456789012", false},
		{"contract example qwerty123456", "qwerty123456", false},
		{"case variant Password1234", "Password1234", false},
		{"case variant QWERTY123456", "QWERTY123456", false},
		{"common stem with more digits", "Password12345678", false},
		{"common stem with digits and symbol", "Barcelona2024!", false},
		{"common stem after digits", "1234password", false},
		{"Spanish common stem", "Contraseña2024", false},
		{"Spanish common password stem", "tequiero12345", false},
		{"common long word", "responsibility", false},
		{"repeated common word", "passwordpassword", false},
		{"repeated short unit", "abcabcabcabc", false},
		{"one character repeated", "aaaaaaaaaaaa", false},
		{"repeated year", "202420242024", false},
		{"alphabet run", "abcdefghijklmn", false},
		{"descending digits wrapping", "987654321098", false},
		{"keyboard row walk", "qwertyuiopasdf", false},
		{"keyboard run with a symbol", "asdfghjkl;'!", false},
		{"invalid UTF-8", "twelve bytes\xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPassword(tt.password)
			if tt.wantOK {
				if err != nil {
					t.Fatalf("CheckPassword(%q) = %v, want nil", tt.password, err)
				}
				return
			}
			var e *resguardo.Error
			if !errors.As(err, &e) {
				t.Fatalf("CheckPassword(%q) = %v, want *resguardo.Error", tt.password, err)
			}
			if e.Code != resguardo.EInvalid {
				t.Errorf("Code = %q, want %q", e.Code, resguardo.EInvalid)
			}
			if len(e.Fields) != 1 || e.Fields[0].Field != "password" || e.Fields[0].Detail == "" {
				t.Errorf("Fields = %+v, want one problem for field password", e.Fields)
			}
			shown := []string{err.Error(), resguardo.ErrorMessage(err)}
			for _, f := range resguardo.ErrorFields(err) {
				shown = append(shown, f.Detail)
			}
			for _, s := range shown {
				low := strings.ToLower(s)
				if tt.password != "" && (strings.Contains(s, tt.password) || strings.Contains(low, strings.ToLower(tt.password))) {
					t.Errorf("error text %q contains the password", s)
				}
			}
		})
	}
}

func TestIsCommon(t *testing.T) {
	tests := []struct {
		password string
		want     bool
	}{
		// Exact entries of the list, any case.
		{"123456", true},
		{"password", true},
		{"PassWord", true},
		{"qwerty", true},
		{"iloveyou", true},
		{"teamo", true},      // Spanish, from the passwords list
		{"contraseña", true}, // Spanish common words
		{"barcelona", true},
		{"realmadrid", true},
		{"password1234", true},
		{"123456789012", true},
		{"qwerty123456", true},
		// Core rule: leading/trailing digits, punctuation, symbols, spaces.
		{"  monkey!!  ", true},
		{"##dragon##2024", true},
		{"Superman-1999", true},
		{"abc!", false}, // core "abc" has under 4 characters: the core rule does not apply
		// Repetition and runs.
		{"xyzxyzxyz", true},
		{"lamplamplamp", true}, // unit "lamp" has 4 characters
		{"hola1234hola1234", true},
		{"ghijklmnop", true},
		{"zyxwvutsrq", true},
		{"0123456789", true},
		{"mnbvcxzlkjh", true}, // QWERTY rows backwards
		{"azertyuiopqsd", true},
		// Not common.
		{"correct horse battery staple", false},
		{"mi gato come pimientos azules", false},
		{"zq7-lamp-vex", false},
		{"Tr0ub4dor&3-zebra", false},
		{"lamp0 owl lamp1 owl", false},
		{"kettlewhisperbanjo", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsCommon(tt.password); got != tt.want {
			t.Errorf("IsCommon(%q) = %v, want %v", tt.password, got, tt.want)
		}
	}
}

func TestCommonList(t *testing.T) {
	lines := commonList()
	list := make([]string, len(lines.start))
	for i := range list {
		list[i] = lines.line(i)
	}
	if len(list) < 10000 {
		t.Fatalf("list has %d entries, want at least 10,000", len(list))
	}
	if !slices.IsSorted(list) {
		t.Error("list is not sorted")
	}
	if len(slices.Compact(slices.Clone(list))) != len(list) {
		t.Error("list has duplicates")
	}
	var bad []string
	for _, w := range list {
		if w == "" || w != strings.ToLower(w) || !norm.NFC.IsNormalString(w) || strings.ContainsAny(w, "\r\n") {
			bad = append(bad, w)
		}
	}
	if len(bad) > 0 {
		t.Errorf("entries not lowercase NFC single lines: %q", bad[:min(len(bad), 10)])
	}
	// The head of the zxcvbn-ts passwords list (most common first).
	top := []string{"123456", "password", "12345678", "qwerty", "123456789", "12345", "1234", "111111"}
	var missing []string
	for _, w := range top {
		if !listed(w) {
			missing = append(missing, w)
		}
	}
	if diff := cmp.Diff([]string(nil), missing); diff != "" {
		t.Errorf("most common passwords missing (-want +got):\n%s", diff)
	}
	// Every entry is found, and near misses (a prefix, an extension, the
	// ends of the list's order) are not.
	for i, w := range list {
		if !listed(w) {
			t.Fatalf("entry %d %q not found", i, w)
		}
	}
	for _, w := range []string{list[0][:len(list[0])-1], list[0] + "\x01", list[len(list)-1] + "z", "\x00"} {
		if w != "" && slices.Contains(list, w) {
			continue
		}
		if listed(w) {
			t.Errorf("%q found but not in the list", w)
		}
	}
}

func TestRules(t *testing.T) {
	for _, s := range []string{"aaaa", "abab", "abcdabcd", "qwertyqwerty", "ññññ"} {
		if !isRepeat(s) {
			t.Errorf("isRepeat(%q) = false", s)
		}
	}
	for _, s := range []string{"abcd", "abcab", "lamp0 owl lamp1 owl", "kettlewhisperbanjokettlewhisperbanj"} {
		if isRepeat(s) {
			t.Errorf("isRepeat(%q) = true", s)
		}
	}
	for _, s := range []string{"abcd", "dcba", "7890123", "3210987", "qwer", "lkjh", "αβγδ"} {
		if !isRun(s) {
			t.Errorf("isRun(%q) = false", s)
		}
	}
	for _, s := range []string{"abce", "1357", "qwrt", "a1b2"} {
		if isRun(s) {
			t.Errorf("isRun(%q) = true", s)
		}
	}
}

func BenchmarkCheckPassword(b *testing.B) {
	commonList() // load once, outside the timing
	for b.Loop() {
		_ = CheckPassword("correct horse battery staple")
	}
}
