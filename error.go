// Package resguardo is the domain of the customer-data backend: its types,
// service interfaces, the permission table and the error codes. It imports no
// database, HTTP or crypto package, so that every other package can depend on
// it and it depends on none of them.
package resguardo

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Each one maps to exactly one HTTP status in the server package;
// the set is small on purpose so that clients can act on it.
const (
	EInvalid          = "invalid"                   // input failed validation
	EUnauthenticated  = "unauthenticated"           // no or bad credentials
	EReauthRequired   = "reauthentication_required" // signed in, not recently enough (step-up)
	EForbidden        = "forbidden"                 // authenticated but not allowed
	ENotFound         = "not_found"                 // no such object (or not yours)
	EMethodNotAllowed = "method_not_allowed"        // route exists, method does not
	EConflict         = "conflict"                  // state does not allow the change
	ETooLarge         = "too_large"                 // request body over its limit
	EUnsupportedMedia = "unsupported_media"         // wrong Content-Type
	ERateLimited      = "rate_limited"              // slow down
	EUnavailable      = "unavailable"               // a dependency is down; try later
	EInternal         = "internal"                  // anything unexpected
)

// ErrContention is in the chain of every error the store returns when the
// database gave up waiting on a lock (SQLite busy, an InnoDB lock wait or
// deadlock); such an error is also an EUnavailable Error. Services retry on
// it, and the server logs it louder than an ordinary refusal; neither needs
// to know which database said so.
var ErrContention = errors.New("database lock contention")

// FieldProblem names one invalid input field and why it is invalid. Detail is
// written for the client and never echoes the submitted value, which may be a
// password or personal data.
type FieldProblem struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Error is the domain error. Message is safe to show to a client; anything
// internal belongs in the wrapped error, which is logged and never shown.
type Error struct {
	Code    string
	Message string
	Fields  []FieldProblem
	// RetryAfter tells a rate-limited client when to try again.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with a client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first Error in err's chain, EInternal for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the client-safe message of err: the Error's message, or
// a generic text for anything internal, so internal detail never leaks.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != EInternal {
		return e.Message
	}
	return "An internal error occurred."
}

// ErrorFields returns the field problems of err, if any.
func ErrorFields(err error) []FieldProblem {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// RetryAfter returns how long a rate-limited client should wait, if err
// says.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
