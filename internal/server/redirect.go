package server

import (
	"net/url"
	"strings"
)

// localPath returns next if it is a path on this site, and ok=false for
// anything that could leave it: a scheme (https:, javascript:), a
// protocol-relative or backslash form (//x, /\x, which browsers treat as
// another host), encoded variants of those, or control characters (which
// browsers strip, turning "/\t/x" into "//x").
func localPath(next string) (string, bool) {
	if next == "" || len(next) > 2048 || next[0] != '/' {
		return "", false
	}
	// Decode repeatedly: a check on one layer of encoding is bypassed by two.
	decoded := next
	for range 3 {
		d, err := url.PathUnescape(decoded)
		if err != nil {
			return "", false
		}
		if d == decoded {
			break
		}
		decoded = d
	}
	for _, s := range []string{next, decoded} {
		if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
			return "", false
		}
		// No empty or dot segments either: "/.//x" resolves to "//x".
		path, _, _ := strings.Cut(s, "?")
		if strings.Contains(path, "//") || strings.Contains(path+"/", "/./") || strings.Contains(path+"/", "/../") {
			return "", false
		}
		if strings.ContainsAny(s, "\\") || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return "", false
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	return next, true
}

// afterLogin is where a sign-in lands: next if local, else the account.
func afterLogin(next string) string {
	if p, ok := localPath(next); ok {
		return p
	}
	return "/account"
}
