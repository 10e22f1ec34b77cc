package auth

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/resguardo/resguardo"
)

// Password length bounds (docs/contract.md §3), in characters (runes after NFC).
const (
	MinPasswordLen = 12
	MaxPasswordLen = 128
)

// CheckPassword enforces docs/contract.md §3 for a new password: 12–128 characters
// (runes, counted after NFC normalisation), any characters, no composition
// rules, and not common (IsCommon). It returns a *resguardo.Error with code
// EInvalid and one problem for field "password"; the message never contains
// the password.
func CheckPassword(password string) error {
	if !utf8.ValidString(password) {
		return passwordProblem("Use valid UTF-8 text.")
	}
	n := utf8.RuneCountInString(norm.NFC.String(password))
	switch {
	case n < MinPasswordLen:
		return passwordProblem("Use at least 12 characters.")
	case n > MaxPasswordLen:
		return passwordProblem("Use at most 128 characters.")
	case IsCommon(password):
		return passwordProblem("This password is too common or too easy to guess. A few unrelated words make a strong one.")
	}
	return nil
}

func passwordProblem(detail string) error {
	return &resguardo.Error{
		Code:    resguardo.EInvalid,
		Message: "The password does not meet the requirements.",
		Fields:  []resguardo.FieldProblem{{Field: "password", Detail: detail}},
	}
}

//go:generate go run ./commonlist -o common-passwords.txt.gz
//go:embed common-passwords.txt.gz
var commonGz []byte

// commonList is the embedded list: lowercased, NFC, sorted, unique, loaded on
// first use (about 120,000 entries, 1 MB of text, 2 MB of string headers).
// sortedLines is the common-password list as one string and the offset
// of each line: no pointer per entry, so the garbage collector, which runs
// about once per argon2id hash (each allocates its 19 MiB matrix), has
// one string to look at instead of a hundred thousand.
type sortedLines struct {
	text  string
	start []uint32 // start of each line in text; line i ends before start[i+1]-1
}

func (l sortedLines) line(i int) string {
	end := len(l.text)
	if i+1 < len(l.start) {
		end = int(l.start[i+1]) - 1
	}
	return l.text[l.start[i]:end]
}

func (l sortedLines) contains(s string) bool {
	i := sort.Search(len(l.start), func(i int) bool { return l.line(i) >= s })
	return i < len(l.start) && l.line(i) == s
}

var commonList = sync.OnceValue(func() sortedLines {
	zr, err := gzip.NewReader(bytes.NewReader(commonGz))
	if err != nil {
		panic("auth: embedded common-password list: " + err.Error())
	}
	// The file is ours and small; the limit only guards against a mistake.
	raw, err := io.ReadAll(io.LimitReader(zr, 32<<20))
	if err != nil {
		panic("auth: embedded common-password list: " + err.Error())
	}
	list := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if !slices.IsSorted(list) {
		slices.Sort(list) // the generator sorts; this keeps lookups correct regardless
	}
	text := strings.Join(list, "\n")
	l := sortedLines{text: text, start: make([]uint32, 0, len(list))}
	off := 0
	for _, w := range list {
		l.start = append(l.start, uint32(off)) // #nosec G115 -- the list is bounded to 32 MiB above
		off += len(w) + 1
	}
	return l
})

func listed(s string) bool { return commonList().contains(s) }

// IsCommon reports whether password is on the shipped list of common and
// breached passwords (see COMMON-PASSWORDS.md), or is one trivially derived
// from it. Matching is on the NFC, lowercased password, and besides an exact
// match these simple rules apply, because "common word plus a few digits or
// symbols" and keyboard runs are what guessing tools try first:
//
//   - the core: the password with leading and trailing digits, punctuation,
//     symbols and spaces removed ("Password1234!" → "password"), if it has at
//     least 4 characters and is on the list;
//   - a repetition of a shorter unit that is at most 4 characters long or is
//     itself common ("abcabcabcabc", "qwertyqwerty", "202420242024");
//   - a sequential run, rising or falling by one code point or digit (with
//     9→0 wrapping) ("abcdefghijkl", "345678901234"), or a straight run along
//     a keyboard row ("qwertyuiopasdf");
//
// each applied to the whole password and to its core.
func IsCommon(password string) bool {
	s := strings.ToLower(norm.NFC.String(password))
	if listed(s) {
		return true
	}
	core := strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r)
	})
	if core != s && utf8.RuneCountInString(core) >= 4 && listed(core) {
		return true
	}
	for _, x := range []string{s, core} {
		if utf8.RuneCountInString(x) >= 4 && (isRepeat(x) || isRun(x)) {
			return true
		}
	}
	return false
}

// isRepeat reports whether s is a shorter unit repeated, where the unit is at
// most 4 characters or is itself common.
func isRepeat(s string) bool {
	r := []rune(s)
	for p := 1; p <= len(r)/2; p++ {
		if len(r)%p != 0 || !slices.Equal(r[p:], r[:len(r)-p]) {
			continue
		}
		// The smallest period: s is r[:p] repeated.
		return p <= 4 || IsCommon(string(r[:p]))
	}
	return false
}

// keyboardRows are straight keyboard walks (QWERTY, AZERTY, digits), checked
// forwards and backwards.
var keyboardRows = []string{
	"1234567890qwertyuiopasdfghjklzxcvbnm",
	"1234567890azertyuiopqsdfghjklmwxcvbn",
	"qwertyuiop", "asdfghjklñ", "zxcvbnm",
}

// isRun reports whether s is a sequential run of code points or digits, or a
// straight run along a keyboard row.
func isRun(s string) bool {
	for _, row := range keyboardRows {
		if strings.Contains(row, s) || strings.Contains(reverse(row), s) {
			return true
		}
	}
	r := []rune(s)
	for _, step := range []rune{1, -1} {
		i := 1
		for ; i < len(r); i++ {
			if !nextInRun(r[i-1], r[i], step) {
				break
			}
		}
		if i == len(r) {
			return true
		}
	}
	return false
}

func nextInRun(prev, cur, step rune) bool {
	if isASCIIDigit(prev) && isASCIIDigit(cur) {
		return (prev-'0'+step+10)%10 == cur-'0'
	}
	return cur == prev+step
}

func isASCIIDigit(r rune) bool { return '0' <= r && r <= '9' }

func reverse(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}
