package server

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
)

// Cookie names: under HTTPS the __Host- prefix makes the browser refuse any
// cookie of that name that is not Secure, host-only and Path=/, so a
// sibling subdomain cannot plant one. Plain HTTP (loopback development)
// cannot use it.
func (s *Server) cookieName(base string) string {
	if s.secureTransport {
		return "__Host-" + base
	}
	return base
}

// guestTokenLen is the length of the pre-session tokens we issue
// (rand.Text: 128 bits); anything shorter was not made here.
const guestTokenLen = 26

const (
	sessionCookie = "session"
	guestCookie   = "csrf" // pre-session cookie for the forms of guests
	formTokenName = "csrf_token"
	deviceCookie  = "device" // known-device token, see account.RememberDevice
)

func (s *Server) sessionToken(r *http.Request) string { return s.cookieValue(r, sessionCookie) }

// setSessionCookie hands the browser a session token: HttpOnly (no script
// reads it), Secure under HTTPS, SameSite=Lax.
func (s *Server) setSessionCookie(w http.ResponseWriter, token string) {
	s.setAuthCookie(w, sessionCookie, token, http.SameSiteLaxMode)
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	s.setAuthCookie(w, sessionCookie, "", http.SameSiteLaxMode)
}

// setDeviceCookie hands the browser its known-device token: HttpOnly,
// Secure (and __Host- named) under HTTPS, SameSite=Strict (only the
// site's own sign-in form needs it), kept as long as the device is
// remembered.
func (s *Server) setDeviceCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(deviceCookie), Value: token, Path: "/", // #nosec G124 -- Secure under HTTPS; plain HTTP only on loopback
		MaxAge: int(account.DeviceLifetime.Seconds()), HttpOnly: true, Secure: s.secureTransport, SameSite: http.SameSiteStrictMode})
}

// cookieValue reads one of our cookies by its base name, or "".
func (s *Server) cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(s.cookieName(name))
	if err != nil {
		return ""
	}
	return c.Value
}

// setAuthCookie sets (or, with an empty value, clears) a cookie carrying a
// session token: HttpOnly, Secure (and __Host- named) under HTTPS, lasting
// the browser session; the server enforces the session's own timeouts.
func (s *Server) setAuthCookie(w http.ResponseWriter, name, value string, sameSite http.SameSite) {
	maxAge := 0
	if value == "" {
		maxAge = -1
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(name), Value: value, Path: "/", MaxAge: maxAge, // #nosec G124 -- Secure under HTTPS; plain HTTP only on loopback
		HttpOnly: true, Secure: s.secureTransport, SameSite: sameSite})
}

// guestCookieName is the pre-session cookie of the listener serving r. The
// staff console keeps its own: cookies do not tell ports apart, so the
// customer site on the same host would otherwise issue the token that a
// staff form is checked against.
func (s *Server) guestCookieName(r *http.Request) string {
	if requestInfoFrom(r.Context()).Surface == string(staff) {
		return s.cookieName(staffGuestCookie)
	}
	return s.cookieName(guestCookie)
}

// guestToken returns the pre-session form token of this browser, or "".
func (s *Server) guestToken(r *http.Request) string {
	c, err := r.Cookie(s.guestCookieName(r))
	if err != nil {
		return ""
	}
	return c.Value
}

// ensureGuestToken returns the browser's pre-session form token, issuing a
// fresh one (SameSite=Strict, HttpOnly) if it has none.
func (s *Server) ensureGuestToken(w http.ResponseWriter, r *http.Request) string {
	if t := s.guestToken(r); len(t) >= guestTokenLen {
		return t
	}
	t := rand.Text()
	http.SetCookie(w, &http.Cookie{Name: s.guestCookieName(r), Value: t, Path: "/",
		HttpOnly: true, Secure: s.secureTransport, SameSite: http.SameSiteStrictMode}) // #nosec G124 -- as above
	return t
}

var errFormToken = resguardo.Errorf(resguardo.EForbidden, "The form has expired. Reload the page and try again.")

// checkFormToken compares the form's token with the expected one in
// constant time; an empty expectation never matches.
func checkFormToken(r *http.Request, expected string) error {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return resguardo.Errorf(resguardo.EUnsupportedMedia, "Send the form as application/x-www-form-urlencoded.")
	}
	got := r.PostFormValue(formTokenName)
	if expected == "" || subtle.ConstantTimeCompare([]byte(got), []byte(expected)) != 1 {
		return errFormToken
	}
	return nil
}
