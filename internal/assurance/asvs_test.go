package assurance

import (
	"encoding/csv"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The ASVS map covers these chapters, every Level 1 and Level 2 requirement.
// (V5 File Handling: resguardo takes no files; V10 OAuth and OIDC: it neither
// issues nor consumes them; V17 WebRTC: none. docs/asvs.md says so.)
var asvsChapters = []string{"V1", "V2", "V3", "V4", "V6", "V7", "V8", "V9", "V11", "V12", "V13", "V14", "V15", "V16"}

// Statuses of a row of docs/asvs.md: met and partial name the tests that
// prove them; documented names the document; design says which construction
// meets it where a test would only restate the code; n/a and open say why.
var asvsStatuses = []string{"met", "partial", "documented", "design", "n/a", "open"}

const (
	asvsMap = "docs/asvs.md"
	asvsCSV = "docs/asvs-5.0.0.csv" // a copy of the OWASP list (CC BY-SA 4.0), so nothing reads outside the repository
)

var (
	testNameRe = regexp.MustCompile("`(Test[A-Za-z0-9_]+)`")
	testFuncRe = regexp.MustCompile(`(?m)^func (Test[A-Za-z0-9_]+)\(`)
	docPathRe  = regexp.MustCompile(`(docs/[A-Za-z0-9_.-]+\.md|SECURITY\.md|README\.md)`)
)

type asvsReq struct{ id, level string }

// asvsRequirements reads the Level 1 and 2 requirements of the covered
// chapters from the CSV copy.
func asvsRequirements(t *testing.T, root string) []asvsReq {
	t.Helper()
	f, err := os.Open(filepath.Join(root, asvsCSV)) // #nosec G304 -- the repository's own copy
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"chapter_id", "req_id", "L"} {
		if _, ok := col[h]; !ok {
			t.Fatalf("%s has no column %s", asvsCSV, h)
		}
	}
	var out []asvsReq
	for _, r := range rows[1:] {
		if slices.Contains(asvsChapters, r[col["chapter_id"]]) && (r[col["L"]] == "1" || r[col["L"]] == "2") {
			out = append(out, asvsReq{r[col["req_id"]], r[col["L"]]})
		}
	}
	return out
}

// repoTests returns the names of every Test function of the repository.
func repoTests(t *testing.T, root string) map[string]string {
	t.Helper()
	names := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "data" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		for _, m := range testFuncRe.FindAllStringSubmatch(string(mustRead(t, path)), -1) {
			rel, _ := filepath.Rel(root, path)
			names[m[1]] = filepath.ToSlash(rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestASVSMapCoversEveryRequirement checks docs/asvs.md against the ASVS
// list: one row for every Level 1 and 2 requirement of the covered chapters,
// at its level, with a known status; a met or partly met requirement names
// the tests that prove it, a documented one the document, and the others
// say why.
func TestASVSMapCoversEveryRequirement(t *testing.T) {
	root := repoRoot(t)
	want := asvsRequirements(t, root)
	if len(want) < 200 {
		t.Fatalf("read only %d requirements from %s", len(want), asvsCSV)
	}
	rows := map[string][]string{}
	idRe := regexp.MustCompile(`^V\d+\.\d+\.\d+$`)
	for _, line := range strings.Split(string(mustRead(t, filepath.Join(root, asvsMap))), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "|") {
			continue
		}
		cells := splitRow(strings.TrimSpace(line))
		id := strings.Trim(cells[0], "*`")
		if !idRe.MatchString(id) {
			continue
		}
		if len(cells) != 5 {
			t.Errorf("%s: row %s has %d cells, want 5 (requirement, level, status, control, tests)", asvsMap, id, len(cells))
			continue
		}
		if _, dup := rows[id]; dup {
			t.Errorf("%s: %s appears twice", asvsMap, id)
		}
		rows[id] = cells
	}
	counts := map[string]int{}
	for _, r := range want {
		cells, ok := rows[r.id]
		if !ok {
			t.Errorf("%s lacks %s (Level %s)", asvsMap, r.id, r.level)
			continue
		}
		delete(rows, r.id)
		level, status, control, tests := cells[1], cells[2], cells[3], cells[4]
		if level != r.level {
			t.Errorf("%s: %s is Level %s, not %s", asvsMap, r.id, r.level, level)
		}
		if !slices.Contains(asvsStatuses, status) {
			t.Errorf("%s: %s has status %q, want one of %v", asvsMap, r.id, status, asvsStatuses)
		}
		counts[status]++
		if len(control) < 10 {
			t.Errorf("%s: %s says too little: %q", asvsMap, r.id, control)
		}
		named := testNameRe.FindAllString(tests, -1)
		switch status {
		case "met", "partial":
			if len(named) == 0 {
				t.Errorf("%s: %s is %s but names no test", asvsMap, r.id, status)
			}
		case "documented":
			if !docPathRe.MatchString(control) {
				t.Errorf("%s: %s is documented but names no document (docs/….md, SECURITY.md, README.md)", asvsMap, r.id)
			}
		}
		for _, p := range docPathRe.FindAllString(control, -1) {
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				t.Errorf("%s: %s names %s, which does not exist", asvsMap, r.id, p)
			}
		}
	}
	for id := range rows {
		t.Errorf("%s has a row for %s, which is not a Level 1 or 2 requirement of %v", asvsMap, id, asvsChapters)
	}
	t.Logf("%d requirements: %v", len(want), counts)
}

// TestASVSNamedTestsExist checks that every test the security documents name
// (as `TestXxx`) is a Test function of the repository, so the map cannot
// claim a proof that is not there.
func TestASVSNamedTestsExist(t *testing.T) {
	root := repoRoot(t)
	tests := repoTests(t, root)
	docs := []string{asvsMap, "docs/threat-model.md", "docs/third-parties.md", "SECURITY.md"}
	total := 0
	for _, d := range docs {
		b, err := os.ReadFile(filepath.Join(root, d)) // #nosec G304 -- the repository's own documents
		if err != nil {
			t.Errorf("%s: %v", d, err)
			continue
		}
		for _, m := range testNameRe.FindAllStringSubmatch(string(b), -1) {
			total++
			if _, ok := tests[m[1]]; !ok {
				t.Errorf("%s names %s, which is not a test of this repository", d, m[1])
			}
		}
	}
	if total == 0 {
		t.Errorf("the documents name no test at all")
	}
}
