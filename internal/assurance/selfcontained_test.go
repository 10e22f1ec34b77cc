package assurance

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The strings a reference to an outside document takes, built from parts
// so that this file does not match itself.
var (
	specName    = "SPEC" + ".md"
	specSection = "SPEC" + " §"
	outside     = ".." + "/shared"
)

// outsideAllowed says where a path outside the repository may appear: in
// the Makefile, the measuring harnesses of the bench targets and the
// offline vulnerability database of `make audit` (inputs of tools, not
// documents); and in .ci/run, which checks that database is there.
func outsideAllowed(file, line string) bool {
	switch file {
	case "Makefile":
		return strings.Contains(line, "bench") || strings.Contains(line, "BENCH") || strings.Contains(line, "VULNDB")
	case ".ci/run":
		return true
	}
	return false
}

// TestDocsAreSelfContained: no file of the repository cites a document the
// repository does not contain. The contract lives in docs/contract.md; a
// reference to the specification kept outside, or to a path beside the
// checkout, fails here, and so does a docs/ file named but missing.
func TestDocsAreSelfContained(t *testing.T) {
	root := repoRoot(t)
	cmd := exec.Command("git", "ls-files", "-co", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	docRef := regexp.MustCompile(`\bdocs/[A-Za-z0-9_.-]+\.(?:md|csv)\b`)
	for _, file := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if file == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, file)) // #nosec G304 -- the repository's own files
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the work tree, not yet in the index
			}
			t.Fatal(err)
		}
		if bytes.IndexByte(b, 0) >= 0 {
			continue // binary
		}
		for i, line := range strings.Split(string(b), "\n") {
			where := file + ":" + strconv.Itoa(i+1)
			if strings.Contains(line, specName) || strings.Contains(line, specSection) {
				t.Errorf("%s cites the outside specification; cite docs/contract.md instead: %s", where, strings.TrimSpace(line))
			}
			if strings.Contains(line, outside) && !outsideAllowed(file, line) {
				t.Errorf("%s names a path outside the repository: %s", where, strings.TrimSpace(line))
			}
			for _, ref := range docRef.FindAllString(line, -1) {
				if _, err := os.Stat(filepath.Join(root, ref)); err != nil {
					t.Errorf("%s cites %s, which the repository does not contain", where, ref)
				}
			}
		}
	}
}
