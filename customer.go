package resguardo

import (
	"log/slog"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
)

// Customer is a customer's profile as the customer (and, masked, staff)
// sees it. It only ever exists in memory in clear: at rest every personal
// field is sealed under the customer's own data key.
type Customer struct {
	ID            string
	Email         Email
	EmailVerified bool
	Name          string
	Phones        []Phone
	Addresses     []Address
	TOTPEnabled   bool
	CreatedAt     time.Time
	// Locked is set by staff; a locked customer cannot sign in.
	Locked bool
}

// LogValue keeps personal data out of logs: a customer logs as its id.
func (c Customer) LogValue() slog.Value { return slog.StringValue("customer:" + c.ID) }

// Phone is one of a customer's phone numbers, in E.164.
type Phone struct {
	ID     string `json:"id"`
	Label  string `json:"label"`
	Number string `json:"number"`
}

// Address is one postal address.
type Address struct {
	ID         string `json:"id"`
	Label      string `json:"label"`
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	City       string `json:"city"`
	Region     string `json:"region"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// Email is a validated, normalised e-mail address. The zero value is not a
// valid address; only ParseEmail makes one.
type Email string

// LogValue redacts the address.
func (e Email) LogValue() slog.Value { return slog.StringValue("[email]") }

// ParseEmail validates and normalises an address: trimmed, NFC, lower case,
// a bare addr-spec (no display name), at most 254 bytes, a dotted domain.
func ParseEmail(s string) (Email, error) {
	s = strings.ToLower(norm.NFC.String(strings.TrimSpace(s)))
	bad := func(detail string) error {
		return &Error{Code: EInvalid, Message: "The e-mail address is not valid.", Fields: []FieldProblem{{Field: "email", Detail: detail}}}
	}
	if s == "" {
		return "", bad("is required")
	}
	if len(s) > 254 {
		return "", bad("must be at most 254 characters")
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return "", bad("must not contain spaces or control characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", bad("must be an address like name@example.com")
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", bad("must have a domain like example.com")
	}
	return Email(s), nil
}

// ParsePhone validates a number given with its country code (+34…) and
// returns it in E.164.
func ParsePhone(s string) (string, error) {
	bad := func(detail string) error {
		return &Error{Code: EInvalid, Message: "The phone number is not valid.", Fields: []FieldProblem{{Field: "number", Detail: detail}}}
	}
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "+") {
		return "", bad("must start with + and the country code")
	}
	if len(s) > 32 {
		return "", bad("is too long")
	}
	n, err := phonenumbers.Parse(s, "")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", bad("is not a valid number")
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// CleanText NFC-normalises s, trims it, and checks its length in runes and
// that it holds no control characters. field names the input in the error.
func CleanText(field, s string, minLen, maxLen int) (string, error) {
	s = norm.NFC.String(strings.TrimSpace(s))
	n := utf8.RuneCountInString(s)
	switch {
	case n < minLen && minLen == 1:
		return "", &Error{Code: EInvalid, Message: "A required field is empty.", Fields: []FieldProblem{{Field: field, Detail: "is required"}}}
	case n < minLen || n > maxLen:
		return "", &Error{Code: EInvalid, Message: "A field has the wrong length.", Fields: []FieldProblem{{Field: field, Detail: lengthDetail(minLen, maxLen)}}}
	case !utf8.ValidString(s) || strings.ContainsFunc(s, ForbiddenInText):
		return "", &Error{Code: EInvalid, Message: "A field holds control characters.", Fields: []FieldProblem{{Field: field, Detail: "must not contain control or invisible formatting characters"}}}
	}
	return s, nil
}

// ForbiddenInText reports characters no text field may hold: control
// characters, and invisible formatting characters (bidirectional overrides,
// zero-width spaces) that make a name display as something else to staff
// or in mail. The zero-width joiner and non-joiner stay: some scripts and
// emoji need them.
func ForbiddenInText(r rune) bool {
	if unicode.IsControl(r) {
		return true
	}
	return unicode.Is(unicode.Cf, r) && r != '\u200c' && r != '\u200d'
}

func lengthDetail(minLen, maxLen int) string {
	return "must be " + strconv.Itoa(minLen) + " to " + strconv.Itoa(maxLen) + " characters"
}

// Clean validates and normalises an address in place, reporting every
// problem at once.
func (a *Address) Clean() error {
	var fields []FieldProblem
	set := func(dst *string, field string, minLen, maxLen int) {
		v, err := CleanText(field, *dst, minLen, maxLen)
		if err != nil {
			fields = append(fields, ErrorFields(err)...)
			return
		}
		*dst = v
	}
	set(&a.Label, "label", 0, 40)
	set(&a.Line1, "line1", 1, 200)
	set(&a.Line2, "line2", 0, 200)
	set(&a.City, "city", 1, 100)
	set(&a.Region, "region", 0, 100)
	set(&a.PostalCode, "postal_code", 0, 20)
	a.Country = strings.ToUpper(strings.TrimSpace(a.Country))
	if r, err := language.ParseRegion(a.Country); len(a.Country) != 2 || err != nil || !r.IsCountry() {
		fields = append(fields, FieldProblem{Field: "country", Detail: "must be an ISO 3166-1 alpha-2 country code"})
	}
	if len(fields) > 0 {
		return &Error{Code: EInvalid, Message: "The address is not valid.", Fields: fields}
	}
	return nil
}

// MaxDeviceName is the longest device name a client may give. The name is
// shown in session lists and in the new-sign-in mail, whose composer
// enforces the same rule.
const MaxDeviceName = 64

// devicePunctuation is the punctuation a device name may hold besides
// letters, digits and spaces: enough for "Ana's iPhone (work)", not enough
// for a link, a host name, an address or markup.
const devicePunctuation = "-_'’(),+#&"

// PlainDeviceRune reports whether r may appear in a device name: a letter
// or decimal digit of any script, a space, or one of devicePunctuation.
// Everything else is refused — line and paragraph separators, bidi and
// other format characters, combining marks, symbols, and the ':', '/',
// '.' and '@' that links, host names and e-mail addresses need (mail
// readers turn a bare "evil.example" into a link).
func PlainDeviceRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == ' ' || strings.ContainsRune(devicePunctuation, r)
}

// errDeviceName names the field and the characters it may hold.
var errDeviceName = &Error{Code: EInvalid, Message: "A device name may hold only letters, digits, spaces and - _ ' ( ) , + # &.",
	Fields: []FieldProblem{{Field: "device_name", Detail: "may hold only letters, digits, spaces and - _ ' ( ) , + # &"}}}

// ParseDeviceName cleans a device name chosen by the client (an app): one
// short line of plain text (PlainDeviceRune) that cannot carry a link, a
// host name or a second line into the mail that quotes it.
func ParseDeviceName(s string) (string, error) {
	d, err := CleanText("device_name", s, 0, MaxDeviceName)
	if err != nil {
		return "", err
	}
	if !utf8.ValidString(d) || strings.ContainsFunc(d, func(r rune) bool { return !PlainDeviceRune(r) }) {
		return "", errDeviceName
	}
	return d, nil
}
