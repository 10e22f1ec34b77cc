package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
)

// statusFor maps a domain error code to its one HTTP status.
func statusFor(code string) int {
	switch code {
	case resguardo.EInvalid:
		return http.StatusBadRequest
	case resguardo.EUnauthenticated, resguardo.EReauthRequired:
		return http.StatusUnauthorized
	case resguardo.EForbidden:
		return http.StatusForbidden
	case resguardo.ENotFound:
		return http.StatusNotFound
	case resguardo.EMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case resguardo.EConflict:
		return http.StatusConflict
	case resguardo.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case resguardo.EUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case resguardo.ERateLimited:
		return http.StatusTooManyRequests
	case resguardo.EUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// problem is an RFC 9457 problem document.
type problem struct {
	Type      string                   `json:"type"`
	Title     string                   `json:"title"`
	Status    int                      `json:"status"`
	Detail    string                   `json:"detail"`
	RequestID string                   `json:"request_id"`
	Errors    []resguardo.FieldProblem `json:"errors,omitempty"`
}

// problemTypeBase prefixes the code to make the problem type URI.
const problemTypeBase = "urn:resguardo:problem:"

// writeProblem writes err as application/problem+json. Only the domain
// error's client-safe message reaches the body; internal errors say nothing
// but their request id.
func writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	code := resguardo.ErrorCode(err)
	status := statusFor(code)
	p := problem{
		Type:      problemTypeBase + code,
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    resguardo.ErrorMessage(err),
		RequestID: requestInfoFrom(r.Context()).ID,
		Errors:    resguardo.ErrorFields(err),
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Security-Policy", apiCSP)
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", bearerChallenge(r, code))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// bearerChallenge is the WWW-Authenticate value of an API 401 (RFC 6750
// §3): the API takes bearer tokens only. A request that sent a token learns
// that the token is not valid (expired, revoked, unknown), so an app knows to
// refresh or sign in again; a request that sent none gets the bare
// challenge, with no error attribute (RFC 6750 §3.1). A valid token that
// needs a fresh password or code (step-up) is not an invalid token: it gets
// the step-up error of RFC 9470, so an app asks for re-authentication
// instead of dropping its sign-in.
func bearerChallenge(r *http.Request, code string) string {
	if _, sent := bearerToken(r); !sent {
		return "Bearer"
	}
	if code == resguardo.EReauthRequired {
		return `Bearer error="insufficient_user_authentication", max_age=` + strconv.Itoa(int(account.RecentAuthWindow.Seconds()))
	}
	return `Bearer error="invalid_token"`
}
