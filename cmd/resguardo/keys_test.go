package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resguardo/resguardo/internal/testutil"
)

// post sends a JSON body and decodes a JSON answer.
func post(t *testing.T, url, token string, body, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func getStatus(url, token string) (int, error) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// Key rotation is online: while `keys rotate --kek` and `keys rotate
// --index` run in another process, a running server keeps answering every
// profile read and every sign-in; afterwards the old KEK version is retired
// and the server still reads everything.
func TestKeysRotateWhileServing(t *testing.T) {
	testutil.ForEachBackend(t, func(t *testing.T, b testutil.Backend) {
		dataDir := filepath.Join(t.TempDir(), "data")
		environ := map[string]string{"RESGUARDO_DATA_DIR": dataDir}
		serveArgs := []string{"serve", "--addr", "127.0.0.1:0", "--staff-addr", "127.0.0.1:0"}
		if b.Name == "mysql" {
			environ["RESGUARDO_DATABASE"] = testutil.MySQLDatabase(t)
			serveArgs = append(serveArgs, "--migrate")
			keysInit(t, dataDir, environ["RESGUARDO_DATABASE"])
		}
		site, _ := startServe(t, environ, serveArgs)
		const pw = "correct horse battery staple"
		var tokens []string
		for i := range 6 {
			email := fmt.Sprintf("k%d@example.com", i)
			if c := post(t, site.Site+"/api/v1/auth/register", "", map[string]string{"email": email, "password": pw, "name": "Cliente"}, nil); c != 202 {
				t.Fatalf("register: %d", c)
			}
			var tk struct {
				AccessToken string `json:"access_token"`
			}
			if c := post(t, site.Site+"/api/v1/auth/login", "", map[string]string{"email": email, "password": pw}, &tk); c != 200 {
				t.Fatalf("login: %d", c)
			}
			if c := post(t, site.Site+"/api/v1/me/phones", tk.AccessToken, map[string]string{"number": fmt.Sprintf("+3461200000%d", i)}, nil); c != 201 {
				t.Fatalf("phone: %d", c)
			}
			tokens = append(tokens, tk.AccessToken)
		}

		// Traffic during the rotations: profile reads and sign-ins.
		var failures atomic.Int64
		var reads atomic.Int64
		var firstFailure sync.Once
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				code, err := getStatus(site.Site+"/api/v1/me", tokens[i%len(tokens)])
				if i%10 == 0 {
					code = post(t, site.Site+"/api/v1/auth/login", "", map[string]string{"email": fmt.Sprintf("k%d@example.com", i%len(tokens)), "password": pw}, nil)
				}
				reads.Add(1)
				if err != nil || code != 200 {
					failures.Add(1)
					firstFailure.Do(func() { t.Errorf("request %d during rotation: %d %v", i, code, err) })
				}
				time.Sleep(5 * time.Millisecond)
			}
		})

		cli := func(args ...string) string {
			t.Helper()
			var out strings.Builder
			all := append(args, "--data-dir", dataDir)
			if b.Name == "mysql" {
				all = append(all, "--database", environ["RESGUARDO_DATABASE"])
			}
			if err := run(t.Context(), all, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out.String())
			}
			return out.String()
		}
		before := cli("keys", "status")
		oldKEK := regexp.MustCompile(`kek: (\d+) \(primary\)`).FindStringSubmatch(before)
		if oldKEK == nil {
			t.Fatalf("keys status = %q", before)
		}
		// Settle past the server's 2 s reload, as operators would by default.
		cli("keys", "rotate", "--kek", "--batch-size", "2", "--settle", "2500ms")
		cli("keys", "rotate", "--index", "--batch-size", "2", "--settle", "2500ms")
		// Every customer signs in right after the re-index: the server
		// finds rows under the new index key, which it loaded while waiting.
		for i := range tokens {
			if c := post(t, site.Site+"/api/v1/auth/login", "", map[string]string{"email": fmt.Sprintf("k%d@example.com", i), "password": pw}, nil); c != 200 {
				t.Errorf("sign-in of customer %d after the index rotation: %d", i, c)
			}
		}
		close(stop)
		wg.Wait()
		if reads.Load() < 20 || failures.Load() > 0 {
			t.Fatalf("%d requests during the rotations, %d failed", reads.Load(), failures.Load())
		}
		after := cli("keys", "status")
		if !strings.Contains(after, "kek: "+oldKEK[1]+" [0 in use]") {
			t.Fatalf("old KEK still in use after rotation: %q", after)
		}
		cli("keys", "retire", "--kek", "--key-id", oldKEK[1])
		time.Sleep(2500 * time.Millisecond) // the server reloads the file without the old key
		for _, tk := range tokens {
			if code, err := getStatus(site.Site+"/api/v1/me", tk); err != nil || code != 200 {
				t.Errorf("profile after retiring the old KEK: %d %v", code, err)
			}
		}
	})
}
