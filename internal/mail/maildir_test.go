package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	netmail "net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const testFrom = "Tienda <no-reply@shop.example>"

func newTestMaildir(t *testing.T) (Sender, string, *bytes.Buffer) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data", "mail")
	var logBuf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logBuf}, nil))
	s, err := NewMaildir(dir, testFrom, log)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir, &logBuf
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestMaildirWritesParseableMessage(t *testing.T) {
	s, dir, logBuf := newTestMaildir(t)
	subject := "Confirma tu dirección — ¡ñandú! " + strings.Repeat("largo ", 12)
	text := "Hola:\n\nÁbrelo aquí:\n\nhttps://shop.example/verify?token=abc=def&x=1\n\n" +
		strings.Repeat("línea muy larga ", 10) + "\n"
	m := Message{To: testTo, Subject: subject, Text: text, Lang: "es"}
	before := time.Now()
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}

	names := listDir(t, dir)
	if len(names) != 1 {
		t.Fatalf("directory holds %v, want one file", names)
	}
	if !regexp.MustCompile(`^\d{19}-[A-Z2-7]{26}\.eml$`).MatchString(names[0]) {
		t.Errorf("file name %q is not <unix-nanos>-<random>.eml", names[0])
	}
	path := filepath.Join(dir, names[0])

	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", p, got, want)
		}
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line longer than 998 octets: %q", line)
		}
	}
	parsed, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail cannot read the message: %v\n%s", err, raw)
	}
	h := parsed.Header

	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "no-reply@shop.example" || from[0].Name != "Tienda" {
		t.Errorf("From = %v (%v)", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != testTo {
		t.Errorf("To = %v (%v)", to, err)
	}
	if enc := h.Get("Subject"); !strings.Contains(enc, "=?UTF-8?") {
		t.Errorf("Subject is not RFC 2047-encoded: %q", enc)
	}
	var dec mime.WordDecoder
	gotSubject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil || gotSubject != subject {
		t.Errorf("Subject decodes to %q (%v), want %q", gotSubject, err, subject)
	}
	date, err := h.Date()
	if err != nil || date.Before(before.Add(-time.Second)) || date.After(time.Now().Add(time.Second)) {
		t.Errorf("Date = %v (%v)", date, err)
	}
	if id := h.Get("Message-Id"); !regexp.MustCompile(`^<[A-Z2-7]{26}@shop\.example>$`).MatchString(id) {
		t.Errorf("Message-ID = %q", id)
	}
	if v := h.Get("Mime-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q", v)
	}
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mediaType != "text/plain" || !strings.EqualFold(params["charset"], "utf-8") {
		t.Errorf("Content-Type = %q", h.Get("Content-Type"))
	}
	// 8bit, so the link in the file is copied as it is.
	if cte := h.Get("Content-Transfer-Encoding"); cte != "8bit" {
		t.Errorf("Content-Transfer-Encoding = %q", cte)
	}
	if !strings.Contains(string(raw), "https://shop.example/verify?token=abc=def&x=1\n") || !strings.Contains(string(raw), "Ábrelo aquí") {
		t.Errorf("the link or the text is not in the file as written:\n%s", raw)
	}
	if v := h.Get("Content-Language"); v != "es" {
		t.Errorf("Content-Language = %q", v)
	}
	if v := h.Get("Auto-Submitted"); v != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", v)
	}
	for _, name := range []string{"User-Agent", "X-Mailer", "Bcc"} {
		if v := h.Get(name); v != "" {
			t.Errorf("unexpected header %s: %q", name, v)
		}
	}
	body, err := io.ReadAll(parsed.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(string(body), "\r\n", "\n"); strings.TrimRight(got, "\n") != strings.TrimRight(text, "\n") {
		t.Errorf("body = %q, want %q", got, text)
	}

	logged := logBuf.String()
	if !strings.Contains(logged, path) || !strings.Contains(logged, `"level":"INFO"`) {
		t.Errorf("log lacks the path at info level: %s", logged)
	}
	for _, secret := range []string{testTo, "ana.garcia", "verify?token", "Confirma"} {
		if strings.Contains(logged, secret) {
			t.Errorf("log contains %q: %s", secret, logged)
		}
	}
}

func TestMaildirRefusesHeaderInjection(t *testing.T) {
	s, dir, _ := newTestMaildir(t)
	good := Message{To: testTo, Subject: "Hello", Text: "Body\n"}
	tests := []struct {
		name string
		edit func(*Message)
	}{
		{"LF in To", func(m *Message) { m.To = "a@example.com\nBcc: victim@example.com" }},
		{"CRLF in To", func(m *Message) { m.To = "a@example.com\r\nBcc: victim@example.com" }},
		{"CR in To", func(m *Message) { m.To = "a@example.com\rBcc: victim@example.com" }},
		{"LF in Subject", func(m *Message) { m.Subject = "Hello\nBcc: victim@example.com" }},
		{"CRLF in Subject", func(m *Message) { m.Subject = "Hello\r\nBcc: victim@example.com" }},
		{"CR in Subject", func(m *Message) { m.Subject = "Hello\rBcc: victim@example.com" }},
		{"NUL in Subject", func(m *Message) { m.Subject = "Hello\x00" }},
		{"two recipients", func(m *Message) { m.To = "a@example.com, b@example.com" }},
		{"display name", func(m *Message) { m.To = "Ana <a@example.com>" }},
		{"empty To", func(m *Message) { m.To = "" }},
		{"empty Subject", func(m *Message) { m.Subject = " " }},
		{"empty body", func(m *Message) { m.Text = "" }},
		{"invalid UTF-8 body", func(m *Message) { m.Text = "bad \xff" }},
		{"unknown language", func(m *Message) { m.Lang = "fr" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good
			tt.edit(&m)
			err := s.Send(context.Background(), m)
			if !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("Send = %v, want ErrInvalidMessage", err)
			}
			if strings.Contains(err.Error(), "victim") || (m.To != "" && strings.Contains(err.Error(), m.To)) {
				t.Errorf("error echoes the address: %v", err)
			}
		})
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("files written for refused messages: %v", names)
	}
}

func TestMaildirConcurrentSendsSortByTime(t *testing.T) {
	s, dir, _ := newTestMaildir(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- s.Send(context.Background(), Message{To: testTo, Subject: fmt.Sprint("m", i), Text: "x\n"})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	names := listDir(t, dir)
	if len(names) != n {
		t.Fatalf("%d files, want %d: %v", len(names), n, names)
	}
	for _, name := range names {
		if !strings.HasSuffix(name, ".eml") {
			t.Errorf("leftover temporary file %q", name)
		}
	}

	// Sequential sends sort by name in sending order.
	dir2 := t.TempDir()
	s2, err := NewMaildir(dir2, testFrom, nil)
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for i := range 5 {
		subj := fmt.Sprintf("order %d", i)
		subjects = append(subjects, subj)
		if err := s2.Send(context.Background(), Message{To: testTo, Subject: subj, Text: "x\n"}); err != nil {
			t.Fatal(err)
		}
	}
	names = listDir(t, dir2) // os.ReadDir sorts by name
	var got []string
	for _, name := range names {
		raw, err := os.ReadFile(filepath.Join(dir2, name))
		if err != nil {
			t.Fatal(err)
		}
		m, err := netmail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Header.Get("Subject"))
	}
	if !slices.Equal(got, subjects) {
		t.Errorf("name order gives subjects %v, want %v", got, subjects)
	}
}

func TestNewMaildir(t *testing.T) {
	t.Run("refuses a directory others can write to", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o777); err != nil { // #nosec G302 -- the point of the test
			t.Fatal(err)
		}
		if _, err := NewMaildir(dir, testFrom, nil); err == nil {
			t.Error("NewMaildir accepted a world-writable directory")
		}
	})
	t.Run("accepts an existing private directory", func(t *testing.T) {
		if _, err := NewMaildir(t.TempDir(), testFrom, nil); err != nil {
			t.Error(err)
		}
	})
	t.Run("refuses a file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := NewMaildir(f, testFrom, nil); err == nil {
			t.Error("NewMaildir accepted a file")
		}
	})
	for _, from := range []string{"", "not an address", "a@example.com\r\nBcc: b@example.com", "a@example.com, b@example.com"} {
		t.Run("refuses sender "+fmt.Sprintf("%q", from), func(t *testing.T) {
			if _, err := NewMaildir(t.TempDir(), from, nil); err == nil {
				t.Error("NewMaildir accepted the sender")
			}
		})
	}
	t.Run("refuses an empty directory name", func(t *testing.T) {
		if _, err := NewMaildir("", testFrom, nil); err == nil {
			t.Error("NewMaildir accepted an empty directory name")
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		s, err := NewMaildir(t.TempDir(), testFrom, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.Send(ctx, Message{To: testTo, Subject: "s", Text: "t"}); !errors.Is(err, context.Canceled) {
			t.Errorf("Send = %v, want context.Canceled", err)
		}
	})
}

func TestComposedMessagesAreSendable(t *testing.T) {
	s, dir, _ := newTestMaildir(t)
	for _, kind := range Kinds() {
		for _, lang := range Languages() {
			m, err := Compose(kind, lang, testTo, Data{Link: "https://shop.example/x?t=1", Minutes: 20, Device: "Pixel 8"})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(context.Background(), m); err != nil {
				t.Errorf("%s/%s: %v", kind, lang, err)
			}
		}
	}
	if got, want := len(listDir(t, dir)), len(Kinds())*len(Languages()); got != want {
		t.Errorf("%d files, want %d", got, want)
	}
}
