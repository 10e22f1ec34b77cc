// Package mail composes the customer e-mails of resguardo and delivers them, either as .eml
// files in a directory (development) or through an SMTP relay over TLS (production).
//
// Messages are plain text only: there is no HTML to sanitise and nothing to track. Every header
// value is checked for line breaks and control characters before it is written, so header
// injection is impossible, and no error or log line produced here contains a recipient address,
// a message body or an SMTP password.
package mail

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"
)

// Message is one e-mail, already rendered.
type Message struct {
	To      string // one bare address, e.g. "ana@example.com" (no display name, no list)
	Subject string // one line
	Text    string // plain text body only (no HTML: nothing to sanitise, nothing to track)
	Lang    string // "en", "es" or empty; when set it is sent as Content-Language
}

// Sender delivers a message. Implementations are safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

var (
	// ErrInvalidMessage is wrapped by every error about a message that can never be sent as
	// it is (bad address, line break in a header, unknown kind…). Retrying is pointless.
	ErrInvalidMessage = errors.New("mail: invalid message")

	// ErrRejected is wrapped when the SMTP server refused the message or the session with a
	// permanent (5xx) reply. Retrying the same message is pointless; other failures
	// (network, TLS, 4xx replies) may be transient.
	ErrRejected = errors.New("mail: rejected by the SMTP server")
)

const (
	maxSubjectRunes = 200
	maxTextBytes    = 256 << 10
	maxAddressBytes = 254 // RFC 5321 path limit
)

// invalid returns an error wrapping ErrInvalidMessage. The detail must never contain the value
// that failed (it may be personal data).
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidMessage}, args...)...)
}

// checkLine refuses values that could break out of a header line or confuse a reader:
// invalid UTF-8, CR, LF and every other control character, and Unicode bidirectional
// controls (which can make text display differently from what it is).
func checkLine(field, s string) error {
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", field)
	}
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n':
			return invalid("%s contains a line break", field)
		case unicode.IsControl(r), isBidiControl(r):
			return invalid("%s contains a control character", field)
		}
	}
	return nil
}

func isBidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') ||
		r == '\u200e' || r == '\u200f' || r == '\u061c'
}

// parseRecipient accepts exactly one bare address ("a@example.com"): no display name, no
// angle brackets, no list, no surrounding space.
func parseRecipient(to string) (*netmail.Address, error) {
	if to == "" {
		return nil, invalid("recipient is empty")
	}
	if len(to) > maxAddressBytes {
		return nil, invalid("recipient is too long")
	}
	if err := checkLine("recipient", to); err != nil {
		return nil, err
	}
	a, err := netmail.ParseAddress(to)
	if err != nil || a.Name != "" || a.Address != to {
		return nil, invalid("recipient must be exactly one plain e-mail address")
	}
	return a, nil
}

// parseFrom accepts one address, optionally with a display name ("Shop <no-reply@shop.example>").
func parseFrom(from string) (*netmail.Address, string, error) {
	if err := checkLine("sender address", from); err != nil {
		return nil, "", err
	}
	a, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, "", fmt.Errorf("mail: sender address %q is not a valid address", from)
	}
	at := strings.LastIndexByte(a.Address, '@')
	domain := a.Address[at+1:]
	if domain == "" || strings.ContainsAny(domain, "<>[] ") {
		return nil, "", fmt.Errorf("mail: sender address %q has no usable domain", from)
	}
	return a, domain, nil
}

func (m Message) validate() (*netmail.Address, error) {
	to, err := parseRecipient(m.To)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(m.Subject) == "" {
		return nil, invalid("subject is empty")
	}
	if err := checkLine("subject", m.Subject); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(m.Subject) > maxSubjectRunes {
		return nil, invalid("subject is longer than %d characters", maxSubjectRunes)
	}
	if strings.TrimSpace(m.Text) == "" {
		return nil, invalid("body is empty")
	}
	if len(m.Text) > maxTextBytes {
		return nil, invalid("body is larger than %d bytes", maxTextBytes)
	}
	if !utf8.ValidString(m.Text) {
		return nil, invalid("body is not valid UTF-8")
	}
	for _, r := range m.Text {
		if r != '\n' && r != '\r' && r != '\t' && (unicode.IsControl(r) || isBidiControl(r)) {
			return nil, invalid("body contains a control character")
		}
	}
	switch m.Lang {
	case "", "en", "es":
	default:
		return nil, invalid("language must be en or es")
	}
	return to, nil
}

// envelope is what both senders need to turn a Message into RFC 5322 text.
type envelope struct {
	from   *netmail.Address
	domain string // right-hand side of Message-ID
}

func newEnvelope(from string) (envelope, error) {
	a, domain, err := parseFrom(from)
	if err != nil {
		return envelope{}, err
	}
	return envelope{from: a, domain: domain}, nil
}

// build validates m and returns the go-mail message: one text/plain UTF-8 part in
// quoted-printable, headers From, To, Subject (RFC 2047-encoded when not ASCII), Date,
// Message-ID, MIME-Version, Auto-Submitted and, when m.Lang is set, Content-Language.
// build renders m with the body in enc: quoted-printable for the relay
// (any mail server carries it), 8bit UTF-8 for the development maildir, so
// that a link in the file can be copied as it is (quoted-printable breaks
// long lines with "=" and writes "=" itself as "=3D").
func (e envelope) build(m Message, now time.Time, enc gomail.Encoding) (*gomail.Msg, error) {
	to, err := m.validate()
	if err != nil {
		return nil, err
	}
	msg := gomail.NewMsg(
		gomail.WithCharset(gomail.CharsetUTF8),
		gomail.WithEncoding(enc),
		gomail.WithNoDefaultUserAgent(),
	)
	msg.FromMailAddress(e.from)
	msg.ToMailAddress(to)
	msg.Subject(m.Subject)
	msg.SetDateWithValue(now)
	msg.SetMessageIDWithValue(rand.Text() + "@" + e.domain)
	// RFC 3834: tells auto-responders (vacation replies) not to answer.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	if m.Lang != "" {
		msg.SetGenHeader(gomail.HeaderContentLang, m.Lang)
	}
	msg.SetBodyString(gomail.TypeTextPlain, normaliseNewlines(m.Text))
	return msg, nil
}

func normaliseNewlines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
