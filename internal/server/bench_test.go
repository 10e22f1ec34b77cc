package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/testutil"
	"golang.org/x/crypto/argon2"
)

// benchServer is the real server with production argon2id parameters and
// a quiet log, on backend b.
func benchServer(b *testing.B, bk testutil.Backend) (*Server, *testutil.Env) {
	b.Helper()
	env := testutil.NewEnv(b, bk, io.Discard)
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
	accounts := account.New(env.DB, env.Vault, auth.NewHasher(auth.DefaultParams, env.Vault, 2), env.Audit, log, account.DefaultOptions("http://127.0.0.1:8080"))
	s, err := New(Options{Logger: log, DB: env.DB, Accounts: accounts})
	if err != nil {
		b.Fatal(err)
	}
	return s, env
}

func benchPost(b *testing.B, h http.Handler, path string, body any) *httptest.ResponseRecorder {
	js, _ := json.Marshal(body)
	req := httptest.NewRequest("POST", path, bytes.NewReader(js))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "127.0.0.1:1234"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// benchCustomer registers a customer with one phone and one address and
// returns an access token.
func benchCustomer(b *testing.B, h http.Handler) string {
	if w := benchPost(b, h, "/api/v1/auth/register", map[string]string{"email": "bench@example.com", "password": testPassword, "name": "Bench Customer"}); w.Code != 202 {
		b.Fatalf("register: %d %s", w.Code, w.Body)
	}
	w := benchPost(b, h, "/api/v1/auth/login", map[string]string{"email": "bench@example.com", "password": testPassword})
	var tk tokens
	if err := json.Unmarshal(w.Body.Bytes(), &tk); err != nil || tk.AccessToken == "" {
		b.Fatalf("login: %d %s", w.Code, w.Body)
	}
	for path, body := range map[string]any{
		"/api/v1/me/phones":    map[string]string{"number": "+34612345678"},
		"/api/v1/me/addresses": map[string]string{"line1": "Calle Mayor 1", "city": "Madrid", "country": "ES"},
	} {
		js, _ := json.Marshal(body)
		req := httptest.NewRequest("POST", path, bytes.NewReader(js))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tk.AccessToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 201 {
			b.Fatalf("%s: %d", path, rec.Code)
		}
	}
	return tk.AccessToken
}

// BenchmarkAPIMe is GET /api/v1/me through the whole pipeline (headers,
// OpenAPI validation, token lookup, profile with one phone and one
// address, decryption), in process.
func BenchmarkAPIMe(b *testing.B) {
	for _, bk := range testutil.Backends() {
		b.Run(bk.Name, func(b *testing.B) {
			s, _ := benchServer(b, bk)
			h := s.Site()
			token := benchCustomer(b, h)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("GET", "/api/v1/me", nil)
					req.Header.Set("Authorization", "Bearer "+token)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("me: %d", w.Code)
					}
				}
			})
		})
	}
}

// BenchmarkLogin is a successful POST /api/v1/auth/login (argon2id at the
// production parameters, the guessing limits, the customer read, the audit
// entry, token issue) on each backend, next to BenchmarkArgon2idBare, the
// bare hash at the same parameters: docs/contract.md §12 wants ≥ 95 % of its rate.
func BenchmarkLogin(b *testing.B) {
	for _, bk := range testutil.Backends() {
		b.Run(bk.Name, func(b *testing.B) {
			s, _ := benchServer(b, bk)
			h := s.Site()
			benchCustomer(b, h)
			body := map[string]string{"email": "bench@example.com", "password": testPassword}
			b.ResetTimer()
			for b.Loop() {
				if w := benchPost(b, h, "/api/v1/auth/login", body); w.Code != 200 {
					b.Fatalf("login: %d %s", w.Code, w.Body)
				}
			}
		})
	}
}

func BenchmarkArgon2idBare(b *testing.B) {
	p := auth.DefaultParams
	salt := make([]byte, p.SaltLen)
	for b.Loop() {
		argon2.IDKey([]byte(testPassword), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	}
}
