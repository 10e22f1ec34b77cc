package server

import (
	"net/url"
	"strings"
	"testing"
)

func TestLocalPath(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"/account", true},
		{"/account/security?tab=2#x", true},
		{"/", true},
		{"/a%20b", true},
		{"/.//evil.example", false},
		{"/a/../..//evil.example", false},
		{"/a/./b", false},
		{"", false},
		{"//evil.example", false},
		{"//evil.example/account", false},
		{"/\\evil.example", false},
		{"\\\\evil.example", false},
		{"/%2Fevil.example", false},
		{"%2F%2Fevil.example", false},
		{"/%252F%252Fevil.example", false},
		{"/%5Cevil.example", false},
		{"https://evil.example", false},
		{"https:evil.example", false},
		{"javascript:alert(1)", false},
		{"JavaScript:alert(1)", false},
		{"/\t/evil.example", false},
		{"/\n/evil.example", false},
		{"/%09/evil.example", false},
		{"/%0d%0aSet-Cookie:x", false},
		{"evil.example", false},
		{" /account", false},
		{"/" + strings.Repeat("a", 3000), false},
	}
	for _, tt := range tests {
		got, ok := localPath(tt.in)
		if ok != tt.ok {
			t.Errorf("localPath(%q) ok = %v, want %v", tt.in, ok, tt.ok)
		}
		if ok && got != tt.in {
			t.Errorf("localPath(%q) = %q", tt.in, got)
		}
	}
}

// FuzzLocalPath: whatever is accepted, a browser resolving it against our
// origin stays on our origin.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/a", "//x", "/\\x", "/%2f%2fx", "https:x", "/\t/x", "javascript:x", "/.//x", "/%5c%5cx"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://resguardo.example/login")
	f.Fuzz(func(t *testing.T, next string) {
		p, ok := localPath(next)
		if !ok {
			return
		}
		// A browser strips tabs and newlines before resolving; we refused
		// them already, so resolving p directly is what a browser does.
		u, err := base.Parse(p)
		if err != nil {
			t.Fatalf("accepted %q which does not parse: %v", next, err)
		}
		if u.Host != base.Host || u.Scheme != base.Scheme {
			t.Fatalf("accepted %q resolving to %s", next, u)
		}
		if strings.HasPrefix(u.EscapedPath(), "//") || strings.Contains(p, "\\") {
			t.Fatalf("accepted %q: %s", next, u)
		}
	})
}
