package assurance

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// allowedLicences is the licence allow-list of docs/third-parties.md, which
// gives the reasons (MPL-2.0: copyleft per file only, and we change no file).
var allowedLicences = []string{"MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0", "ISC", "MPL-2.0"}

var riskRatings = []string{"low", "medium", "high"}

const registerFile = "docs/third-parties.md"

// mdTable is one markdown table: its header cells and its rows, by header.
type mdTable struct {
	header []string
	rows   []map[string]string
}

// registerTables returns the tables of a markdown file by the "## " heading
// above them.
func registerTables(t *testing.T, path string) map[string]mdTable {
	t.Helper()
	out := map[string]mdTable{}
	heading := ""
	var cur *mdTable
	sc := bufio.NewScanner(strings.NewReader(string(mustRead(t, path))))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if h, ok := strings.CutPrefix(line, "## "); ok {
			heading, cur = h, nil
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if cur != nil {
				out[heading] = *cur
				cur = nil
			}
			continue
		}
		cells := splitRow(line)
		switch {
		case cur == nil:
			cur = &mdTable{header: cells}
		case strings.Trim(strings.Join(cells, ""), "-: ") == "": // the |---|---| line
		default:
			if len(cells) != len(cur.header) {
				t.Errorf("%s, table %q: row has %d cells, header %d: %s", path, heading, len(cells), len(cur.header), line)
				continue
			}
			row := map[string]string{}
			for i, h := range cur.header {
				row[h] = cells[i]
			}
			cur.rows = append(cur.rows, row)
		}
	}
	if cur != nil {
		out[heading] = *cur
	}
	return out
}

// splitRow splits a markdown table row into its cells; `\|` is a pipe
// inside a cell.
func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	const pipe = "\x00"
	cells := strings.Split(strings.ReplaceAll(line, `\|`, pipe), "|")
	for i, c := range cells {
		cells[i] = strings.ReplaceAll(strings.TrimSpace(c), pipe, "|")
	}
	return cells
}

// goModRequires reads the require directives of go.mod: module path → version.
// It fails on replace directives, which would swap a module for other code
// behind the register's back.
func goModRequires(t *testing.T, gomod string) map[string]string {
	t.Helper()
	req := map[string]string{}
	block := ""
	for n, line := range strings.Split(gomod, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if block != "" {
			if f[0] == ")" {
				block = ""
				continue
			}
			f = append([]string{block}, f...)
		} else if len(f) == 2 && f[1] == "(" {
			block = f[0]
			continue
		}
		switch f[0] {
		case "require":
			if len(f) != 3 {
				t.Fatalf("go.mod:%d: cannot read %q", n+1, line)
			}
			req[f[1]] = f[2]
		case "replace":
			t.Errorf("go.mod:%d: replace directive: record the replacement in %s and teach this test about it", n+1, registerFile)
		}
	}
	return req
}

// licenceIDs splits an SPDX expression ("Apache-2.0 AND MIT") into its ids.
func licenceIDs(expr string) []string {
	var ids []string
	for _, f := range strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(expr)) {
		if f != "AND" && f != "OR" {
			ids = append(ids, f)
		}
	}
	return ids
}

func TestThirdPartyRegister(t *testing.T) {
	root := repoRoot(t)
	tables := registerTables(t, filepath.Join(root, registerFile))
	required := goModRequires(t, string(mustRead(t, filepath.Join(root, "go.mod"))))
	if len(required) == 0 {
		t.Fatal("read no require lines from go.mod")
	}

	modules, ok := tables["Go modules"]
	if !ok {
		t.Fatalf("%s has no \"## Go modules\" table", registerFile)
	}
	checkColumns(t, "Go modules", modules, "module", "version", "purpose", "maintainer", "licence", "risk", "mitigation")
	registered := map[string]string{}
	for _, r := range modules.rows {
		m, v := strings.Trim(r["module"], "`"), r["version"]
		if _, dup := registered[m]; dup {
			t.Errorf("%s: %s is listed twice", registerFile, m)
		}
		registered[m] = v
		checkRow(t, m, r)
		if want, ok := required[m]; !ok {
			t.Errorf("%s lists %s, which go.mod does not require: remove the row", registerFile, m)
		} else if v != want {
			t.Errorf("%s: %s is %s in go.mod but %q in the register", registerFile, m, want, v)
		}
	}
	for m, v := range required {
		if _, ok := registered[m]; !ok {
			t.Errorf("go.mod requires %s %s, which %s lacks: add its row (purpose, maintainer, licence, risk, mitigation)", m, v, registerFile)
		}
	}

	services, ok := tables["Outside services"]
	if !ok {
		t.Fatalf("%s has no \"## Outside services\" table", registerFile)
	}
	checkColumns(t, "Outside services", services, "service", "purpose", "maintainer", "licence", "version", "data it sees", "risk", "mitigation")
	for _, want := range []string{"SMTP", "KMS"} {
		if !slices.ContainsFunc(services.rows, func(r map[string]string) bool { return strings.Contains(r["service"], want) }) {
			t.Errorf("%s: no outside service row for %s", registerFile, want)
		}
	}
	for _, r := range services.rows {
		for col, v := range r {
			if v == "" {
				t.Errorf("%s: service %q has no %s", registerFile, r["service"], col)
			}
		}
		if !slices.Contains(riskRatings, r["risk"]) {
			t.Errorf("%s: service %q has risk %q, want one of %v", registerFile, r["service"], r["risk"], riskRatings)
		}
	}

	tools, ok := tables["Build and CI tools"]
	if !ok {
		t.Fatalf("%s has no \"## Build and CI tools\" table", registerFile)
	}
	checkColumns(t, "Build and CI tools", tools, "tool", "module", "version", "purpose", "maintainer", "licence", "risk", "mitigation")
	pins := makefilePins(t, string(mustRead(t, filepath.Join(root, "Makefile"))))
	for pkg, version := range pins {
		i := slices.IndexFunc(tools.rows, func(r map[string]string) bool {
			return pkg == r["module"] || strings.HasPrefix(pkg, r["module"]+"/")
		})
		if i < 0 {
			t.Errorf("the Makefile installs %s, which %s lacks", pkg, registerFile)
			continue
		}
		if r := tools.rows[i]; r["version"] != version {
			t.Errorf("%s: %s is pinned at %s in the Makefile but %q in the register", registerFile, r["module"], version, r["version"])
		}
	}
	for _, r := range tools.rows {
		checkRow(t, r["tool"], r)
	}
	if len(pins) != len(tools.rows) {
		t.Errorf("the Makefile installs %d tools, %s lists %d", len(pins), registerFile, len(tools.rows))
	}
}

func checkColumns(t *testing.T, name string, tab mdTable, want ...string) {
	t.Helper()
	if !slices.Equal(tab.header, want) {
		t.Fatalf("%s: table %q has columns %q, want %q", registerFile, name, tab.header, want)
	}
	if len(tab.rows) == 0 {
		t.Fatalf("%s: table %q is empty", registerFile, name)
	}
}

func checkRow(t *testing.T, name string, r map[string]string) {
	t.Helper()
	for col, v := range r {
		if v == "" {
			t.Errorf("%s: %s has no %s", registerFile, name, col)
		}
	}
	if !slices.Contains(riskRatings, r["risk"]) {
		t.Errorf("%s: %s has risk %q, want one of %v", registerFile, name, r["risk"], riskRatings)
	}
	ids := licenceIDs(r["licence"])
	if len(ids) == 0 {
		t.Errorf("%s: %s has no licence", registerFile, name)
	}
	for _, id := range ids {
		if !slices.Contains(allowedLicences, id) {
			t.Errorf("%s: %s is under %q, which is not on the licence allow-list %v", registerFile, name, id, allowedLicences)
		}
	}
}

// makefilePins maps each package `make tools` installs to its pinned version.
func makefilePins(t *testing.T, makefile string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^(\w+)\s*:?=\s*(\S+)\s*$`).FindAllStringSubmatch(makefile, -1) {
		vars[m[1]] = m[2]
	}
	pins := map[string]string{}
	for _, m := range regexp.MustCompile(`install\s+(\S+)@\$\((\w+)\)`).FindAllStringSubmatch(makefile, -1) {
		v, ok := vars[m[2]]
		if !ok {
			t.Errorf("Makefile: %s is installed at $(%s), which is not set", m[1], m[2])
		}
		pins[m[1]] = v
	}
	if len(pins) == 0 {
		t.Error("Makefile: found no pinned `go install`")
	}
	return pins
}

// licenceMarkers recognise a licence's text; whitespace is folded first.
var licenceMarkers = map[string][]string{
	"MIT":          {"Permission is hereby granted, free of charge"},
	"Apache-2.0":   {"Apache License", "Version 2.0"},
	"BSD-3-Clause": {"Redistribution and use in source and binary forms", "endorse or promote products"},
	"BSD-2-Clause": {"Redistribution and use in source and binary forms"},
	"ISC":          {"Permission to use, copy, modify, and/or distribute this software"},
	"MPL-2.0":      {"Mozilla Public License", "2.0"},
}

// TestRegisterLicencesMatchModules reads each module's LICENSE file in the
// module cache and checks that the register's licence (its first id) is the
// one the file states. Modules not in the cache are skipped: CI downloads
// them all (`go mod download` before `go mod verify`).
func TestRegisterLicencesMatchModules(t *testing.T) {
	root := repoRoot(t)
	modcache := os.Getenv("GOMODCACHE")
	if modcache == "" {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			t.Skipf("cannot find the module cache: %v", err)
		}
		modcache = strings.TrimSpace(string(out))
	}
	tables := registerTables(t, filepath.Join(root, registerFile))
	checked := 0
	for _, r := range tables["Go modules"].rows {
		m, v := strings.Trim(r["module"], "`"), r["version"]
		dir := filepath.Join(modcache, filepath.FromSlash(escapeModulePath(m)+"@"+escapeModulePath(v)))
		text, file := licenceText(dir)
		if file == "" {
			t.Logf("%s %s: not in the module cache (%s), licence not checked", m, v, dir)
			continue
		}
		checked++
		first := licenceIDs(r["licence"])[0]
		markers, ok := licenceMarkers[first]
		if !ok {
			t.Errorf("%s: no way to recognise %s", m, first)
			continue
		}
		for _, mk := range markers {
			if !strings.Contains(text, mk) {
				t.Errorf("%s %s: the register says %s, but %s does not read like it (no %q)", m, v, first, file, mk)
			}
		}
		if first == "BSD-2-Clause" && strings.Contains(text, licenceMarkers["BSD-3-Clause"][1]) {
			t.Errorf("%s %s: the register says BSD-2-Clause, but %s has the third (endorsement) clause", m, v, file)
		}
	}
	t.Logf("checked the licence files of %d modules", checked)
}

// licenceText returns the module's top-level licence file, whitespace folded.
func licenceText(dir string) (text, file string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", ""
	}
	for _, e := range entries {
		n := strings.ToUpper(e.Name())
		if e.IsDir() || !(n == "LICENSE" || n == "LICENCE" || n == "COPYING" || n == "LICENSE.TXT" || n == "LICENSE.MD") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name())) // #nosec G304 -- a file of the module cache
		if err != nil {
			continue
		}
		return strings.Join(strings.Fields(string(b)), " "), filepath.Join(dir, e.Name())
	}
	return "", ""
}

// escapeModulePath is the module cache's case encoding: "!" before each
// upper-case letter, lower-cased (golang.org/x/mod/module.EscapePath).
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestGoModReader shows the register test sees a module added to go.mod.
func TestGoModReader(t *testing.T) {
	got := goModRequires(t, `module example.com/x

go 1.26.0

require example.com/single v1.0.0 // indirect

require (
	example.com/a v1.2.3
	example.com/b v0.0.0-20240101000000-abcdefabcdef // indirect
)
`)
	want := map[string]string{"example.com/single": "v1.0.0", "example.com/a": "v1.2.3", "example.com/b": "v0.0.0-20240101000000-abcdefabcdef"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if ids := licenceIDs("(Apache-2.0 AND MIT) OR BSD-3-Clause"); !slices.Equal(ids, []string{"Apache-2.0", "MIT", "BSD-3-Clause"}) {
		t.Errorf("licenceIDs = %v", ids)
	}
}
