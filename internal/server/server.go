// Package server is resguardo's HTTP side: the route table, the request
// pipeline (request id, access log, security headers, cross-origin
// protection, body limits, OpenAPI validation), the error adapters and the
// handlers of both listeners.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	staffsvc "github.com/resguardo/resguardo/internal/staff"
)

// Store is what the server asks of the database directly: is it there, and
// does an error say it went away (a 503 to retry) rather than that a
// statement failed. Everything else goes through the services.
type Store interface {
	Ping(ctx context.Context) error
	Unreachable(err error) bool
}

// Options are the server's dependencies and settings.
type Options struct {
	Logger *slog.Logger
	DB     Store
	// SecureTransport is true when clients reach us over HTTPS (our own TLS
	// or a trusted TLS-terminating proxy): HSTS is sent, cookies are Secure.
	SecureTransport bool
	TrustedProxies  []netip.Prefix
	// Accounts is the customer account service.
	Accounts *account.Service
	// Staff is the back office's service, for the staff console. Without
	// it every staff route that needs a session refuses.
	Staff *staffsvc.Service
	// Now is the clock; tests move it to check timeouts without sleeping.
	Now func() time.Time
}

// Server holds the two handler trees.
type Server struct {
	log             *slog.Logger
	db              Store
	secureTransport bool
	trustedProxies  []netip.Prefix
	accounts        *account.Service
	staffSvc        *staffsvc.Service
	now             func() time.Time
	api             *apiValidator
	views           *views
	assets          *assets

	site, staff http.Handler
}

// New builds both handler trees. It fails if a template, the OpenAPI
// document or a static asset is broken, so such a build never starts.
func New(o Options) (*Server, error) {
	return build(o, openapiJSON, nil)
}

// build is New with the OpenAPI document and extra routes as parameters, so
// that tests can run the real pipeline over a route of their own.
func build(o Options, openapiDoc []byte, extra []route) (*Server, error) {
	if o.Logger == nil || o.DB == nil || o.Accounts == nil {
		return nil, errors.New("server: Logger, DB and Accounts are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{log: o.Logger, db: o.DB, secureTransport: o.SecureTransport, trustedProxies: o.TrustedProxies,
		accounts: o.Accounts, staffSvc: o.Staff, now: o.Now}
	var err error
	if s.api, err = newAPIValidator(openapiDoc); err != nil {
		return nil, err
	}
	if s.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if s.views, err = loadViews(s.assets); err != nil {
		return nil, err
	}
	muxes := map[surface]*http.ServeMux{site: http.NewServeMux(), staff: http.NewServeMux()}
	for _, rt := range append(s.routes(), extra...) {
		mux, ok := muxes[rt.surface]
		if !ok {
			return nil, fmt.Errorf("route %q: unknown surface %q", rt.pattern, rt.surface)
		}
		var op *apiOperation
		if isAPIPattern(rt.pattern) {
			if op, err = s.api.compile(rt.pattern); err != nil {
				return nil, err
			}
		}
		s.register(mux, rt, op)
	}
	s.site = s.pipeline(site, muxes[site])
	s.staff = s.pipeline(staff, muxes[staff])
	return s, nil
}

// Site is the customer web site and API handler.
func (s *Server) Site() http.Handler { return s.site }

// Staff is the staff console handler, for its own listener.
func (s *Server) Staff() http.Handler { return s.staff }

// pipeline wraps a surface's mux in the layers every request goes through,
// outermost first.
func (s *Server) pipeline(name surface, mux *http.ServeMux) http.Handler {
	var h http.Handler = s.dispatch(mux)
	h = s.withCrossOriginProtection(h)
	h = withBodyLimit(h)
	h = s.withLanguage(h)
	h = s.withSecurityHeaders(h)
	return s.withRequest(string(name), h)
}

// dispatch answers unknown paths (404) and known paths with another method
// (405) through the error adapters, so they too are problem+json or pages.
func (s *Server) dispatch(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.writeError(w, r, resguardo.Errorf(resguardo.EMethodNotAllowed, "This method is not allowed here."))
			return
		}
		s.writeError(w, r, resguardo.Errorf(resguardo.ENotFound, "There is nothing at this address."))
	})
}

// isJSONPath reports whether errors on path are answered as problem+json
// rather than as an HTML page.
func isJSONPath(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/healthz" || path == "/readyz"
}

// writeError is the one error adapter: it logs err once (internal errors
// with their detail, others briefly) and answers the client in the form its
// route speaks, never with internal text.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := resguardo.ErrorCode(err)
	ri := requestInfoFrom(r.Context())
	if code == resguardo.EInternal && s.db.Unreachable(err) {
		// The database (or this node of it) is down or restarting: a 503
		// the client may retry, not a failure of the request itself.
		s.log.WarnContext(r.Context(), "database unreachable", "request_id", ri.ID, "route", ri.Route, "err", err)
		err = &resguardo.Error{Code: resguardo.EUnavailable, Message: "The service is unavailable. Try again in a moment.", Err: err}
		code = resguardo.EUnavailable
	}
	if code == resguardo.EInternal && errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away mid-request: nothing failed on our side.
		s.log.DebugContext(r.Context(), "client gone", "request_id", ri.ID, "route", ri.Route)
		return
	}
	if code == resguardo.EInternal {
		s.log.ErrorContext(r.Context(), "request failed", "request_id", ri.ID, "route", ri.Route, "err", err)
	} else if errors.Is(err, resguardo.ErrContention) {
		s.log.WarnContext(r.Context(), "database contention", "request_id", ri.ID, "route", ri.Route, "err", err)
	} else {
		s.log.DebugContext(r.Context(), "request refused", "request_id", ri.ID, "route", ri.Route, "code", code)
	}
	if d := resguardo.RetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(d))
	} else if code == resguardo.EUnavailable {
		w.Header().Set("Retry-After", "1") // busy hashing, or the database: brief
	}
	if isJSONPath(r.URL.Path) {
		writeProblem(w, r, err)
		return
	}
	if errors.Is(err, errStaffCodeRequired) && r.Method == http.MethodGet {
		codeRedirect(w, r)
		return
	}
	// Both listeners sign in at /login.
	if code == resguardo.EUnauthenticated && r.Method == http.MethodGet && (ri.Surface == string(site) || ri.Surface == string(staff)) {
		loginRedirect(w, r)
		return
	}
	if code == resguardo.EReauthRequired && ri.Surface == string(site) {
		reauthRedirect(w, r)
		return
	}
	if code == resguardo.EReauthRequired && ri.Surface == string(staff) {
		staffReauthRedirect(w, r)
		return
	}
	s.renderError(w, r, statusFor(code))
}

// retryAfterSeconds formats a wait for the Retry-After header, rounded up.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}
