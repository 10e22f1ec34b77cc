package mail

import (
	"embed"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/resguardo/resguardo"
)

// Kind is one of the e-mails: to customers, and the one to staff members.
type Kind string

// The customer e-mails.
const (
	KindVerifyEmail     Kind = "verify_email"     // link to confirm an address
	KindAccountExists   Kind = "account_exists"   // someone tried to register with this address: tell the owner, offer sign-in / reset
	KindPasswordReset   Kind = "password_reset"   // link to reset, valid N minutes
	KindPasswordChanged Kind = "password_changed" // notice: password changed, other sessions signed out; if not you, reset
	KindEmailChanged    Kind = "email_changed"    // notice to the OLD address
	KindNewSignIn       Kind = "new_sign_in"      // notice: sign-in from a new device (device name only)
	KindTwoFactor       Kind = "two_factor"       // notice: second factor turned on or off, other sessions signed out

	// KindStaffEnrolment goes to a new staff member only: their single-use
	// enrolment link, valid N minutes. It is the only way a link made in
	// the console leaves the server.
	KindStaffEnrolment Kind = "staff_enrolment"
)

// Kinds lists every Kind, in a fixed order.
func Kinds() []Kind {
	return []Kind{KindVerifyEmail, KindAccountExists, KindPasswordReset,
		KindPasswordChanged, KindEmailChanged, KindNewSignIn, KindTwoFactor, KindStaffEnrolment}
}

// Languages lists the languages Compose renders; the first is the default.
func Languages() []string { return []string{"en", "es"} }

// Data is the dynamic content of a message.
type Data struct {
	// Link is an absolute http(s) URL. Required for verify_email, password_reset and
	// account_exists (the reset or sign-in page); optional for the notices, where it points
	// to the page to act on (reset, support, sessions) when given.
	Link string
	// Minutes is how long the link stays valid. Required (> 0) for password_reset, shown for
	// verify_email when > 0, ignored otherwise.
	Minutes int
	// Device is the device name shown in new_sign_in. It comes from the client, so it is
	// limited to at most 64 characters of resguardo.PlainDeviceRune, and the templates
	// quote it on a line of its own, as data.
	Device string
}

const (
	maxLinkBytes    = 2048
	maxDeviceRunes  = 64
	maxValidMinutes = 30 * 24 * 60
)

//go:embed templates
var templateFS embed.FS

// templates[lang][kind] holds the "subject" and "body" templates of one message, parsed once
// at start: a missing or broken template stops the program instead of a send.
var templates = mustParseTemplates()

func mustParseTemplates() map[string]map[Kind]*template.Template {
	all := make(map[string]map[Kind]*template.Template)
	for _, lang := range Languages() {
		all[lang] = make(map[Kind]*template.Template)
		funcs := template.FuncMap{"validity": validityFunc(lang)}
		for _, kind := range Kinds() {
			name := "templates/" + lang + "/" + string(kind) + ".txt"
			t := template.Must(template.New(string(kind)).Option("missingkey=error").
				Funcs(funcs).ParseFS(templateFS, name))
			for _, part := range []string{"subject", "body"} {
				if t.Lookup(part) == nil {
					panic(fmt.Sprintf("mail: %s does not define %q", name, part))
				}
			}
			all[lang][kind] = t
		}
	}
	return all
}

// Compose renders a message of that kind in lang ("en" default, "es"; "es-ES" counts as
// "es", anything unknown as "en") from embedded text/template files. Nothing is HTML-escaped
// (the body is plain text), but every single-line value is refused if it holds a line break
// or another control character.
func Compose(kind Kind, lang, to string, data Data) (Message, error) {
	lang = pickLanguage(lang)
	t, ok := templates[lang][kind]
	if !ok {
		return Message{}, invalid("unknown message kind %q", kind)
	}
	if _, err := parseRecipient(to); err != nil {
		return Message{}, err
	}
	if err := data.check(kind); err != nil {
		return Message{}, err
	}

	var subject, body strings.Builder
	if err := t.ExecuteTemplate(&subject, "subject", data); err != nil {
		return Message{}, fmt.Errorf("mail: rendering %s subject: %w", kind, err)
	}
	if err := t.ExecuteTemplate(&body, "body", data); err != nil {
		return Message{}, fmt.Errorf("mail: rendering %s body: %w", kind, err)
	}
	m := Message{
		To:      to,
		Subject: strings.TrimSpace(subject.String()),
		Text:    tidy(body.String()),
		Lang:    lang,
	}
	if _, err := m.validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

func pickLanguage(lang string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(lang, "-_"); i >= 0 {
		lang = lang[:i]
	}
	for _, l := range Languages() {
		if l == lang {
			return l
		}
	}
	return Languages()[0]
}

func (d Data) check(kind Kind) error {
	switch kind {
	case KindVerifyEmail, KindPasswordReset, KindAccountExists, KindStaffEnrolment:
		if d.Link == "" {
			return invalid("%s needs a link", kind)
		}
	}
	if d.Link != "" {
		if err := checkLink(d.Link); err != nil {
			return err
		}
	}
	if d.Minutes < 0 || d.Minutes > maxValidMinutes {
		return invalid("minutes must be between 0 and %d", maxValidMinutes)
	}
	if (kind == KindPasswordReset || kind == KindStaffEnrolment) && d.Minutes == 0 {
		return invalid("%s needs the link's validity in minutes", kind)
	}
	if err := checkLine("device name", d.Device); err != nil {
		return err
	}
	if utf8.RuneCountInString(d.Device) > maxDeviceRunes {
		return invalid("device name is longer than %d characters", maxDeviceRunes)
	}
	// The device name is chosen by whoever signed in: only the plain set the
	// API accepts, so it cannot carry a link, a host name, a line separator
	// (U+2028, U+2029) or a direction override into the message.
	if strings.ContainsFunc(d.Device, func(r rune) bool { return !resguardo.PlainDeviceRune(r) }) {
		return invalid("device name holds a character outside letters, digits, spaces and simple punctuation")
	}
	return nil
}

func checkLink(link string) error {
	if len(link) > maxLinkBytes {
		return invalid("link is longer than %d bytes", maxLinkBytes)
	}
	if err := checkLine("link", link); err != nil {
		return err
	}
	if strings.ContainsAny(link, " \t") {
		return invalid("link contains a space")
	}
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return invalid("link must be an absolute http or https URL")
	}
	if u.User != nil {
		return invalid("link must not contain user information")
	}
	return nil
}

// validityFunc renders a number of minutes in lang: whole days and hours are said as such.
func validityFunc(lang string) func(int) string {
	type units struct{ minute, minutes, hour, hours, day, days string }
	u := units{"minute", "minutes", "hour", "hours", "day", "days"}
	if lang == "es" {
		u = units{"minuto", "minutos", "hora", "horas", "día", "días"}
	}
	plural := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	return func(minutes int) string {
		switch {
		case minutes > 0 && minutes%(24*60) == 0:
			return plural(minutes/(24*60), u.day, u.days)
		case minutes > 0 && minutes%60 == 0:
			return plural(minutes/60, u.hour, u.hours)
		default:
			return plural(minutes, u.minute, u.minutes)
		}
	}
}

// tidy lets templates be written readably: it trims trailing spaces, collapses runs of blank
// lines into one, drops leading and trailing blank lines and ends the text with one newline.
func tidy(s string) string {
	var out []string
	blank := true // drop leading blank lines
	for line := range strings.SplitSeq(normaliseNewlines(s), "\n") {
		line = strings.TrimRight(line, " \t")
		if line == "" {
			if !blank {
				out = append(out, "")
			}
			blank = true
			continue
		}
		out = append(out, line)
		blank = false
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n") + "\n"
}
