package server

import (
	"encoding/json"
	"net/http"

	"github.com/resguardo/resguardo"
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
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}
