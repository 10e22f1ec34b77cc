package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// maildir is the development sender: one .eml file per message.
type maildir struct {
	dir string
	env envelope
	log *slog.Logger
}

// NewMaildir returns the development sender: each message becomes one RFC 5322 .eml file under
// dir, named <unix-nanos>-<random>.eml (the nanoseconds are zero-padded to 19 digits, so the
// names sort by time). dir is created with mode 0700 when missing; an existing dir that group or
// others can write to is refused. Files are written with mode 0600, atomically (a hidden
// temporary file in dir, then rename), so a reader never sees half a message.
//
// The body is written in 8bit UTF-8, not quoted-printable, so a developer can copy a link from
// the file as it is. Each file is logged at info level by path only, never by recipient or
// content (an enrolment link never reaches a log).
func NewMaildir(dir, from string, log *slog.Logger) (Sender, error) {
	if strings.TrimSpace(dir) == "" {
		return nil, errors.New("mail: maildir: no directory given")
	}
	env, err := newEnvelope(from)
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mail: maildir: %w", err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("mail: maildir: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("mail: maildir: %s is not a directory", dir)
	}
	if info.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("mail: maildir: %s is writable by group or others (mode %04o); use chmod 700",
			dir, info.Mode().Perm())
	}
	return &maildir{dir: dir, env: env, log: orDiscard(log)}, nil
}

func (d *maildir) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mail: maildir: %w", err)
	}
	now := time.Now()
	msg, err := d.env.build(m, now, gomail.NoEncoding)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return fmt.Errorf("mail: maildir: rendering message: %w", err)
	}
	name := filepath.Join(d.dir, fmt.Sprintf("%019d-%s.eml", now.UnixNano(), rand.Text()))
	if err := writeFileAtomic(d.dir, name, buf.Bytes()); err != nil {
		return fmt.Errorf("mail: maildir: %w", err)
	}
	d.log.InfoContext(ctx, "mail written", slog.String("path", name))
	return nil
}

// writeFileAtomic writes data to a 0600 temporary file in dir and renames it to name.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, ".tmp-*") // mode 0600; no .eml suffix, so readers skip it
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
