package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The progress line says count, total, share, rate and time left, redraws
// at most every progressEvery, and ends with a newline.
func TestProgressLine(t *testing.T) {
	var b strings.Builder
	now := time.Unix(1_000_000, 0)
	p := newProgress(&b, "rotating kek", "customers", 1_000_000)
	p.now = func() time.Time { return now }
	p.update(0)
	now = now.Add(10 * time.Second)
	p.update(250_000)
	p.update(250_001) // too soon: not drawn
	now = now.Add(30 * time.Second)
	p.finish(1_000_000)
	want := "\r\033[Krotating kek: 0 of 1,000,000 customers (0%)" +
		"\r\033[Krotating kek: 250,000 of 1,000,000 customers (25%), 25,000 customers/s, 30s left" +
		"\r\033[Krotating kek: 1,000,000 of 1,000,000 customers (100%), 25,000 customers/s\n"
	if b.String() != want {
		t.Errorf("drew\n%q\nwant\n%q", b.String(), want)
	}
	var none *progress
	none.update(1) // a nil progress (no terminal) does nothing
	none.finish(1)
}

// Terminal is nil for anything that is not a terminal.
func TestTerminalOnlyForTerminals(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	for _, w := range []any{&strings.Builder{}, f, devnull} {
		if got := Terminal(w.(interface{ Write([]byte) (int, error) })); got != nil {
			t.Errorf("Terminal(%T) = %v, want nil", w, got)
		}
	}
}
