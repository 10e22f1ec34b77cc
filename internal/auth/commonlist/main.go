// Command commonlist builds internal/auth/common-passwords.txt.gz, the list of
// common and breached passwords that auth.IsCommon checks, from the MIT-licensed
// zxcvbn-ts dictionaries published on npm. See ../COMMON-PASSWORDS.md.
//
// It is run by `go generate ./internal/auth/` and needs npm on the PATH, or
// offline with -tarballs DIR pointing at the three tarballs fetched earlier with
// `npm pack`. The tarballs are checked against the pinned npm integrity hashes,
// read in memory (nothing is extracted or installed) and the output is
// deterministic: sorted, deduplicated, gzip without a timestamp.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// source is one pinned npm package and the dictionaries taken from it.
type source struct {
	name, version, integrity string // integrity as in `npm view NAME@VERSION dist.integrity`
	lists                    []list
}

// list is one JSON array of strings inside a package. Capped lists are ordered
// by frequency (most common first) and only their first -cap entries are used;
// minRunes drops entries too short to matter as a password stem.
type list struct {
	file     string
	capped   bool
	minRunes int
}

var sources = []source{
	{
		name: "@zxcvbn-ts/language-common", version: "4.1.3",
		integrity: "sha512-g2bg4skmlJG9aJqC/nWziZzgYpSe/f3rKeGobrkdFiOrfZVFqqzUgC6BUQWuX54Sua9j0Jxxt+1bf4f/Mal1Kg==",
		lists: []list{
			{file: "passwords.json"}, // all of it, short entries included: IsCommon("123456") is true
		},
	},
	{
		name: "@zxcvbn-ts/language-en", version: "4.1.1",
		integrity: "sha512-6UdzuBd3Uex8TKubohcn+uXRVAH34Zjs2eCfT4hQVo9zeTy7AkQRQfdV4OnHR5hQfW/XBrK/AGTZk7VBWh7wwQ==",
		lists:     wordLists,
	},
	{
		name: "@zxcvbn-ts/language-es-es", version: "4.1.2",
		integrity: "sha512-zFCgmyqi/VBsn1KWoM/SqZU1g+mNwgLHq5LRunw6zrsEjn6ZnhSC/wopxdSFgIIhsQyqoanExrZyJci6Z2rlHg==",
		lists:     wordLists,
	},
}

// wordLists are the language dictionaries: they matter as stems ("barcelona"
// in "Barcelona2024!") and as long single words. First names are alphabetical
// and short, so all are kept; the others are frequency-ranked and capped.
var wordLists = []list{
	{file: "firstnames.json", minRunes: 4},
	{file: "lastnames.json", capped: true, minRunes: 4},
	{file: "commonWords.json", capped: true, minRunes: 4},
	{file: "wikipedia.json", capped: true, minRunes: 4},
}

func main() {
	out := flag.String("o", "common-passwords.txt.gz", "output file")
	dir := flag.String("tarballs", "", "directory with the npm tarballs (default: fetch them with npm pack into a temporary directory)")
	capN := flag.Int("cap", 20000, "entries taken from each frequency-ranked word list")
	flag.Parse()
	if err := run(*out, *dir, *capN); err != nil {
		fmt.Fprintln(os.Stderr, "commonlist:", err)
		os.Exit(1)
	}
}

func run(out, dir string, capN int) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "commonlist-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := npmPack(tmp); err != nil {
			return err
		}
		dir = tmp
	}
	set := make(map[string]struct{})
	for _, src := range sources {
		files, err := readPackage(dir, src)
		if err != nil {
			return err
		}
		for _, l := range src.lists {
			var words []string
			if err := json.Unmarshal(files[l.file], &words); err != nil {
				return fmt.Errorf("%s %s: %w", src.name, l.file, err)
			}
			if l.capped && len(words) > capN {
				words = words[:capN]
			}
			n := 0
			for _, w := range words {
				w = strings.ToLower(norm.NFC.String(strings.TrimSpace(w)))
				if w == "" || strings.ContainsAny(w, "\r\n") || !utf8.ValidString(w) || utf8.RuneCountInString(w) < l.minRunes {
					continue
				}
				set[w] = struct{}{}
				n++
			}
			fmt.Fprintf(os.Stderr, "%s@%s %s: %d entries used\n", src.name, src.version, l.file, n)
		}
	}
	entries := make([]string, 0, len(set))
	for w := range set {
		entries = append(entries, w)
	}
	slices.Sort(entries)

	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression) // zero Header: no name, no mtime
	if err != nil {
		return err
	}
	if _, err := io.WriteString(zw, strings.Join(entries, "\n")+"\n"); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil { // #nosec G306 -- a source file, world-readable like the rest of the tree
		return err
	}
	fmt.Fprintf(os.Stderr, "%s: %d entries, %d bytes\n", out, len(entries), buf.Len())
	return nil
}

// npmPack downloads the pinned tarballs with the npm client into dir.
func npmPack(dir string) error {
	for _, src := range sources {
		// Fixed arguments from the table above; no shell is involved.
		cmd := exec.Command("npm", "pack", "--silent", "--pack-destination", dir, src.name+"@"+src.version) // #nosec G204
		cmd.Stdout = io.Discard
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("npm pack %s@%s: %w", src.name, src.version, err)
		}
	}
	return nil
}

// tarballName is the file name npm pack gives a scoped package.
func tarballName(src source) string {
	return strings.ReplaceAll(strings.TrimPrefix(src.name, "@"), "/", "-") + "-" + src.version + ".tgz"
}

// readPackage checks the tarball's integrity and returns the JSON files under
// package/src/ that src uses, read in memory.
func readPackage(dir string, src source) (map[string][]byte, error) {
	path := filepath.Join(dir, tarballName(src))
	raw, err := os.ReadFile(path) // #nosec G304 -- operator-given directory, fixed file name
	if err != nil {
		return nil, err
	}
	sum := sha512.Sum512(raw)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != src.integrity {
		return nil, fmt.Errorf("%s: integrity %s, want %s", path, got, src.integrity)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool)
	for _, l := range src.lists {
		want["package/src/"+l.file] = true
	}
	files := make(map[string][]byte)
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if !want[hdr.Name] {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, 64<<20))
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, hdr.Name, err)
		}
		files[filepath.Base(hdr.Name)] = b
	}
	for _, l := range src.lists {
		if files[l.file] == nil {
			return nil, fmt.Errorf("%s: no package/src/%s", path, l.file)
		}
	}
	return files, nil
}
