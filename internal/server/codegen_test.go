package server

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// oapiCodegen is the generator run by TestGeneratedClient, pinned. It runs
// with `go run pkg@version`, which leaves this module's go.mod alone.
const oapiCodegen = "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2"

// TestGeneratedClient generates a Go client from the document the server
// serves, compiles it in a module of its own with a small program that uses
// only that client (testdata/codegen), and runs the program against a real
// test server: register → sign in → /me → refresh, then sign in with a
// second factor (TOTP) → /me → refresh. The program tells the two sign-in
// answers apart by the generated discriminator accessor, and fails if it
// picks the wrong one. The generator and its modules come from the Go
// module proxy: without it the test is skipped, unless
// RESGUARDO_TEST_CODEGEN=required (as in CI).
func TestGeneratedClient(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and compiles a client")
	}
	required := os.Getenv("RESGUARDO_TEST_CODEGEN") == "required"
	goBin, err := exec.LookPath("go")
	if err != nil {
		if required {
			t.Fatalf("RESGUARDO_TEST_CODEGEN=required but no go command: %v", err)
		}
		t.Skipf("no go command: %v", err)
	}
	ts := newTestServer(t)
	dir := t.TempDir()

	resp, err := http.Get(ts.site.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json: %d %v", resp.StatusCode, err)
	}
	driver, err := os.ReadFile(filepath.Join("testdata", "codegen", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"openapi.json":   doc,
		"go.mod":         []byte("module gen\n\ngo 1.24\n"),
		"driver/main.go": driver,
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "client"), 0o750); err != nil {
		t.Fatal(err)
	}

	// Steps that need the module proxy: their failure skips the test
	// unless it is required. Compiling the generated client is never
	// skipped: a client that does not compile is a broken contract.
	goCmd := func(fetches bool, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), goBin, args...) // #nosec G204 -- fixed arguments, pinned tool
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err == nil {
			return
		}
		if fetches && !required {
			t.Skipf("go %s (needs the module proxy): %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	goCmd(true, "run", oapiCodegen, "-generate", "types,client", "-package", "client", "-o", "client/client.gen.go", "openapi.json")
	goCmd(true, "mod", "tidy")
	goCmd(false, "build", "-o", "driver.bin", "./driver")

	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), filepath.Join(dir, "driver.bin"), append([]string{ts.site.URL}, args...)...) // #nosec G204 -- the program built above
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("driver %s: %v\n%s", args[0], err, stderr.String())
		}
		return strings.TrimSpace(stdout.String())
	}

	email := "generated@example.com"
	access := run("plain", email, testPassword)
	if access == "" {
		t.Fatal("the driver printed no access token")
	}

	// Second factor on, through the test helpers; the next code is one time
	// step later than the one the enrolment used.
	secret, _ := ts.enrolTOTP(t, access)
	ts.env.Clock.Advance(30 * time.Second)
	code, err := totp.GenerateCode(secret, ts.env.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	run("mfa", email, testPassword, code)
}
