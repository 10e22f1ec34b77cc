package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/metrics"
)

// requestInfo travels in the context of every request. It is a pointer so
// that inner layers (the route wrapper, later the policy) can fill in what
// the outer access log prints.
type requestInfo struct {
	ID      string
	Nonce   string // CSP nonce for this response's scripts
	Route   string // route pattern, once matched
	Actor   string // principal id, once authenticated
	Surface string // "site" or "staff"
	Lang    string // page language: "en" or "es"
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withRequest is the outermost layer: request id and nonce, the access log
// line, and panic recovery (inside the log, so a panic logs as a 500).
func (s *Server) withRequest(surface string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &requestInfo{ID: rand.Text(), Surface: surface}
		ctx := context.WithValue(r.Context(), requestInfoKey{}, ri)
		// Audit entries written for this request carry its id and a coarse
		// description of the client: network prefix and browser family.
		client := s.clientIP(r)
		coarse := resguardo.CoarseNetwork(client)
		ctx = audit.WithMeta(ctx, audit.Meta{RequestID: ri.ID, Network: resguardo.ThrottleNetwork(client),
			Client: coarse + " " + deviceName(r.UserAgent())})
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		sw.Header()["X-Request-Id"] = []string{ri.ID}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "panic serving request",
					"request_id", ri.ID, "panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					s.writeError(sw, r, errors.New("panic"))
				}
			}
			// The path is logged without its query: personal data never
			// travels in URLs by design, and the query is where it would.
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("request_id", ri.ID),
				slog.String("surface", ri.Surface),
				slog.String("method", r.Method),
				slog.String("route", ri.Route),
				slog.String("path", r.URL.Path),
				slog.Int("status", sw.status),
				slog.Int("bytes", sw.bytes),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
				slog.String("client", coarse),
				slog.String("actor", ri.Actor),
			)
			status := sw.status
			if status == 0 {
				status = http.StatusOK // what net/http sends for a handler that wrote nothing
			}
			metrics.Request(ri.Surface, ri.Route, status, time.Since(start))
		}()
		next.ServeHTTP(sw, r)
	})
}

// nonce is the CSP nonce of this response, made when a page first asks
// for it: API answers run no scripts and never need one.
func (ri *requestInfo) nonce() string {
	if ri.Nonce == "" {
		ri.Nonce = newNonce()
	}
	return ri.Nonce
}

func newNonce() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)
}

// CSP for every response that is not a page: nothing may load or frame it.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// pageCSP is the policy for HTML pages: only our own styles and images,
// scripts only with this response's nonce, no plugins, no framing.
func pageCSP(nonce string) string {
	return "default-src 'none'; script-src 'nonce-" + nonce + "'; style-src 'self'; img-src 'self' data:; " +
		"font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
}

// securityHeaderKeys and securityHeaderValues are the headers every
// response carries (keys in canonical form), then HSTS for HTTPS.
var (
	securityHeaderKeys = [...]string{
		"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
		"Permissions-Policy", "Cross-Origin-Opener-Policy", "Cross-Origin-Resource-Policy", "Cache-Control",
	}
	securityHeaderValues = [len(securityHeaderKeys) + 1]string{
		apiCSP, "nosniff", "DENY", "no-referrer",
		"accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()",
		"same-origin", "same-origin", "no-store",
		"max-age=63072000; includeSubDomains",
	}
)

// withSecurityHeaders sets the headers every response carries. The CSP set
// here is the strict one; the page renderer replaces it with the page policy.
// Cache-Control defaults to no-store; only fingerprinted static assets
// override it.
func (s *Server) withSecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// One array holds every value of this response (one allocation, not
		// one per header); each header gets its own one-element slice of it,
		// so a later Set or Add on one header touches no other.
		vals := securityHeaderValues
		h := w.Header()
		for i, k := range securityHeaderKeys {
			h[k] = vals[i : i+1 : i+1]
		}
		if s.secureTransport {
			h["Strict-Transport-Security"] = vals[len(securityHeaderKeys):]
		}
		next.ServeHTTP(w, r)
	})
}

// withBodyLimit caps every request body; readers then fail with
// *http.MaxBytesError, which the error adapters answer with 413.
func withBodyLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			// Nothing to read, nothing to bound.
		} else if r.ContentLength > maxBodyBytes {
			// Refuse before reading anything.
			r.Body = http.MaxBytesReader(w, r.Body, 0)
		} else {
			r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// withCrossOriginProtection rejects state-changing requests a browser sends
// from another origin (Sec-Fetch-Site, then Origin against Host). Requests
// without those headers (mobile apps, curl) pass: they carry no ambient
// cookie authority that another site could borrow.
func (s *Server) withCrossOriginProtection(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errCrossOrigin)
	}))
	return cop.Handler(next)
}

// clientIP is the peer address, or the first untrusted address in
// X-Forwarded-For when the peer is a configured trusted proxy.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !s.trustedProxy(peer) {
		return peer
	}
	hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer
		}
		if a = a.Unmap(); !s.trustedProxy(a) {
			return a
		}
	}
	return peer
}

func (s *Server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.trustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
