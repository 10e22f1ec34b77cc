package resguardo

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Masking is how staff without a reveal see personal data (docs/contract.md §11). A
// masked value says enough to recognise a customer on the phone, not enough
// to contact or impersonate them.

const bullet = "•"

// MaskName keeps the given name and the initial of the rest: "María G.".
func MaskName(name string) string {
	parts := strings.Fields(name)
	if len(parts) == 0 {
		return ""
	}
	out := parts[0]
	if len(parts) > 1 {
		r, _ := utf8.DecodeRuneInString(parts[1])
		out += " " + string(r) + "."
	}
	return out
}

// MaskEmail keeps the first character of the local part and the domain:
// "m•••@example.com".
func MaskEmail(e Email) string {
	local, domain, ok := strings.Cut(string(e), "@")
	if !ok || local == "" {
		return strings.Repeat(bullet, 3)
	}
	r, _ := utf8.DecodeRuneInString(local)
	return string(r) + strings.Repeat(bullet, 3) + "@" + domain
}

// MaskPhone keeps the country code and the last two digits of an E.164
// number, in groups of three: "+34 ••• ••• •12", "+1 ••• ••• ••23".
func MaskPhone(e164 string) string {
	code := ""
	national := strings.TrimPrefix(e164, "+")
	if n, err := phonenumbers.Parse(e164, ""); err == nil {
		code = strconv.Itoa(int(n.GetCountryCode()))
		national = strings.TrimPrefix(national, code)
	}
	if len(national) < 3 {
		return "+" + code + " " + strings.Repeat(bullet, 3)
	}
	hidden := len(national) - 2
	var b strings.Builder
	b.WriteString("+" + code)
	for i := range len(national) {
		// Groups of three; a lone last digit joins the group before it.
		if i%3 == 0 && (i == 0 || len(national)-i > 1) {
			b.WriteByte(' ')
		}
		if i < hidden {
			b.WriteString(bullet)
		} else {
			b.WriteByte(national[i])
		}
	}
	return b.String()
}

// MaskAddress keeps the city and the country: "Sevilla, ES".
func MaskAddress(a Address) string {
	if a.City == "" {
		return a.Country
	}
	return a.City + ", " + a.Country
}
