package server

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/resguardo/resguardo/internal/testutil"
)

// The fuzzer's state oracle sees a change in any compared table and none
// in an excluded one, on both databases: without it, "a refused request
// changes nothing" would pass vacuously.
func TestFuzzStateSnapshotSeesChanges(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, bk testutil.Backend) {
		ts := newTestServerOn(t, bk)
		r := newStateReader(t, ts.env)
		before, err := r.snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		raw := testutil.RawDB(t, ts.env.DSN, ts.env.DataDir)
		if _, err := raw.ExecContext(t.Context(), `INSERT INTO throttles (name, failures, last_failure_at, blocked_until) VALUES ('x', 1, 1, 0)`); err != nil {
			t.Fatal(err)
		}
		mid, err := r.snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if d := before.diff(mid); len(d) != 0 {
			t.Errorf("a change in an excluded table was seen: %v", d)
		}
		if _, err := raw.ExecContext(t.Context(), `INSERT INTO settings (name, value, updated_at) VALUES ('fuzz-test', 'v', 1)`); err != nil {
			t.Fatal(err)
		}
		after, err := r.snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if d := mid.diff(after); len(d) != 1 || d[0][:len("settings")] != "settings" {
			t.Errorf("a settings row added: diff %v, want settings", d)
		}
	})
}

func TestFuzzParseForms(t *testing.T) {
	page := `<!doctype html><!-- <form action="/no"> --><script>if (a<b) {"<form>"}</script>
<a href="/account">a</a><a href="//evil.example/">x</a><a href="https://x/">y</a>
<form method="post" action="/account/addresses/ABC">
 <input type="hidden" name="csrf_token" value="t&amp;1">
 <label>L <input name=line1 maxlength="200" required></label>
 <select name="country"><option value="ES" selected>España</option><option>FR</option></select>
 <textarea name="reason"><b>not a tag</b></textarea>
 <input type="checkbox" name="agree">
 <button type="button" name="nope">x</button><button name="go" value="1">Go</button>
</form>
<form action="/search"><input type='text' name='q' value='a b'></form>`
	forms, links := parseForms(page)
	want := []htmlForm{
		{Method: "POST", Action: "/account/addresses/ABC", Fields: []htmlField{
			{Name: "csrf_token", Type: "hidden", Value: "t&1"},
			{Name: "line1", Type: "text", MaxLength: 200, Required: true},
			{Name: "country", Type: "select", Value: "ES", Options: []string{"ES", "FR"}},
			{Name: "reason", Type: "textarea", Value: "<b>not a tag</b>"},
			{Name: "agree", Type: "checkbox", Value: "on"},
			{Name: "go", Type: "button", Value: "1"},
		}},
		{Method: "GET", Action: "/search", Fields: []htmlField{{Name: "q", Type: "text", Value: "a b"}}},
	}
	if d := cmp.Diff(want, forms); d != "" {
		t.Errorf("forms (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"/account"}, links); d != "" {
		t.Errorf("links (-want +got):\n%s", d)
	}
}
