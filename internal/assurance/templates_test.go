package assurance

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	templatesDir = "internal/server/templates"
	staticDir    = "internal/server/static"
)

var (
	inputRe = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attrRe  = regexp.MustCompile(`(?is)\b([a-z-]+)\s*=\s*"([^"]*)"`)
)

// TestPasswordFieldsAreMaskedAndManagerFriendly reads every page template:
// each password input is type=password (V6.2.6) and tells password managers
// what it holds (autocomplete current-password or new-password), with nothing
// that blocks pasting or filling (V6.2.7). The pages' one script, the
// product's own, neither blocks paste nor keeps data in browser storage
// (V14.3.3), nor loads anything.
func TestPasswordFieldsAreMaskedAndManagerFriendly(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, templatesDir, "*.html"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates in %s: %v", templatesDir, err)
	}
	passwords := 0
	for _, f := range files {
		src := string(mustRead(t, f))
		name := filepath.Base(f)
		for _, in := range inputRe.FindAllString(src, -1) {
			attrs := map[string]string{}
			for _, m := range attrRe.FindAllStringSubmatch(in, -1) {
				attrs[strings.ToLower(m[1])] = m[2]
			}
			if !strings.Contains(attrs["name"], "password") {
				continue
			}
			passwords++
			if attrs["type"] != "password" {
				t.Errorf("%s: %s is not type=password", name, in)
			}
			if ac := attrs["autocomplete"]; ac != "current-password" && ac != "new-password" {
				t.Errorf("%s: %s: autocomplete %q, want current-password or new-password", name, in, ac)
			}
			for a := range attrs {
				if strings.HasPrefix(a, "on") {
					t.Errorf("%s: %s has an event handler", name, in)
				}
			}
		}
		low := strings.ToLower(src)
		for _, bad := range []string{"localstorage", "sessionstorage", "indexeddb", "onpaste"} {
			if strings.Contains(low, bad) {
				t.Errorf("%s mentions %s", name, bad)
			}
		}
	}
	if passwords < 5 {
		t.Errorf("found only %d password inputs: the check is not reading the forms", passwords)
	}
	entries, err := os.ReadDir(filepath.Join(root, staticDir))
	if err != nil {
		t.Fatal(err)
	}
	// Scripts reviewed: app.js is the product's page script (local times,
	// focus on errors, copy and download, confirmations); passkey.js only
	// carries a passkey ceremony's options and answer between the form and
	// navigator.credentials. Neither stores anything, touches paste, cookies
	// or password fields, or loads anything.
	reviewed := map[string]bool{"app.js": true, "passkey.js": true}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".js") && !strings.HasSuffix(e.Name(), ".mjs") {
			continue
		}
		if !reviewed[e.Name()] {
			t.Errorf("%s/%s: a new script on the pages; review what it stores and whether it can block paste, then update this test", staticDir, e.Name())
			continue
		}
		low := strings.ToLower(string(mustRead(t, filepath.Join(root, staticDir, e.Name()))))
		for _, bad := range []string{"localstorage", "sessionstorage", "indexeddb", "paste", "document.cookie", "password", "fetch(", "xmlhttprequest", "import(", "http:", "https:", "eval(", "innerhtml"} {
			if strings.Contains(low, bad) {
				t.Errorf("%s/%s mentions %s", staticDir, e.Name(), bad)
			}
		}
	}
}
