// Command sbomcheck checks that a CycloneDX SBOM (JSON) lists every module
// compiled into a package: it asks `go list -deps` for the modules of the
// package's build (the main module excluded) and fails, naming them, when the
// SBOM has no component with that module path and version.
//
//	go run ./tools/sbomcheck -sbom bin/resguardo.cdx.json ./cmd/resguardo
//
// Components of the SBOM that the build does not use are reported, not
// failed (the standard library component, for one).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

type bom struct {
	BOMFormat  string      `json:"bomFormat"`
	Components []component `json:"components"`
}

type component struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Type    string `json:"type"`
}

func main() {
	sbomPath := flag.String("sbom", "bin/resguardo.cdx.json", "CycloneDX SBOM in JSON")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: sbomcheck -sbom FILE PACKAGE")
		os.Exit(2)
	}
	if err := run(*sbomPath, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "sbomcheck:", err)
		os.Exit(1)
	}
}

func run(sbomPath, pkg string) error {
	raw, err := os.ReadFile(sbomPath) // #nosec G304 -- the operator names the SBOM
	if err != nil {
		return err
	}
	var b bom
	if err := json.Unmarshal(raw, &b); err != nil {
		return fmt.Errorf("%s: %w", sbomPath, err)
	}
	if b.BOMFormat != "CycloneDX" {
		return fmt.Errorf("%s is not a CycloneDX SBOM (bomFormat %q)", sbomPath, b.BOMFormat)
	}
	listed := map[string]bool{}
	for _, c := range b.Components {
		listed[c.Name+" "+c.Version] = true
	}

	var stderr bytes.Buffer
	// #nosec G204 -- go list of the package named on the command line
	cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}", pkg)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go list: %w\n%s", err, stderr.String())
	}
	var built []string
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); line != "" && !slices.Contains(built, line) {
			built = append(built, line)
		}
	}
	slices.Sort(built)
	if len(built) == 0 {
		return fmt.Errorf("go list found no module in the build of %s", pkg)
	}

	var missing []string
	for _, m := range built {
		if !listed[m] {
			missing = append(missing, m)
		}
	}
	for key := range listed {
		if strings.HasPrefix(key, "std ") {
			fmt.Printf("sbomcheck: %s lists the standard library, %s\n", sbomPath, key)
		} else if !slices.Contains(built, key) {
			fmt.Printf("sbomcheck: note: %s lists %s, which the build of %s does not use\n", sbomPath, key, pkg)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s lacks %d of the %d modules in the build of %s:\n  %s",
			sbomPath, len(missing), len(built), pkg, strings.Join(missing, "\n  "))
	}
	fmt.Printf("sbomcheck: %s lists all %d modules in the build of %s\n", sbomPath, len(built), pkg)
	return nil
}
