package server

import (
	"net/http"

	"github.com/resguardo/resguardo"
)

// Policy decides who may call a route. Every route in the table has one; the
// route wrapper runs it before anything else touches the request, so a
// handler never runs for a caller its policy refuses. Handlers add
// object-level checks on top; they never replace this one.
type Policy interface {
	// authorize returns the request to hand on (later carrying the
	// principal) or the error to answer with.
	authorize(s *Server, r *http.Request) (*http.Request, error)
	String() string
}

// errSignInRequired is what every policy that needs an identity answers to
// a caller without one.
var errSignInRequired = resguardo.Errorf(resguardo.EUnauthenticated, "Sign in to continue.")

// errCrossOrigin answers a state-changing request sent from another site.
var errCrossOrigin = resguardo.Errorf(resguardo.EForbidden, "Cross-origin requests are not allowed.")

type publicPolicy struct{}

// Public routes are open to anyone: health checks, static files, the home
// page, the API description.
var Public Policy = publicPolicy{}

func (publicPolicy) authorize(_ *Server, r *http.Request) (*http.Request, error) { return r, nil }
func (publicPolicy) String() string                                              { return "Public" }

type guestPolicy struct{}

// Guest routes are for callers who are not signed in: sign-in, registration,
// password reset. They are open to anyone; signed-in callers are handled by
// the handler (sent on to their account).
var Guest Policy = guestPolicy{}

func (guestPolicy) authorize(_ *Server, r *http.Request) (*http.Request, error) { return r, nil }
func (guestPolicy) String() string                                              { return "Guest" }

// CustomerPolicy admits a signed-in customer; Recent also requires a password
// or second-factor check in the last five minutes (step-up).
type CustomerPolicy struct{ recent bool }

// Customer admits a signed-in customer.
var Customer = CustomerPolicy{}

// Recent is Customer with step-up.
func (p CustomerPolicy) Recent() CustomerPolicy { return CustomerPolicy{recent: true} }

// authorize refuses everyone: customer sessions and tokens do not exist yet,
// so no request can carry a customer identity. Deny by default until the
// identity layer fills this in.
func (p CustomerPolicy) authorize(_ *Server, _ *http.Request) (*http.Request, error) {
	return nil, errSignInRequired
}

func (p CustomerPolicy) String() string {
	if p.recent {
		return "Customer.Recent"
	}
	return "Customer"
}

// StaffPolicy admits a signed-in staff member whose role holds perm (any
// staff member when perm is empty), optionally with step-up or a second
// person's approval.
type StaffPolicy struct {
	perm     resguardo.Permission
	recent   bool
	fourEyes bool
}

// Staff admits staff whose role holds perm.
func Staff(perm resguardo.Permission) StaffPolicy { return StaffPolicy{perm: perm} }

// StaffSignedIn admits any signed-in staff member.
var StaffSignedIn = StaffPolicy{}

// Recent adds step-up to a staff policy.
func (p StaffPolicy) Recent() StaffPolicy { p.recent = true; return p }

// FourEyes adds a second person's approval to a staff policy.
func (p StaffPolicy) FourEyes() StaffPolicy { p.fourEyes = true; return p }

// authorize refuses everyone until staff sign-in exists.
func (p StaffPolicy) authorize(_ *Server, _ *http.Request) (*http.Request, error) {
	return nil, errSignInRequired
}

func (p StaffPolicy) String() string {
	s := "Staff(" + string(p.perm) + ")"
	if p.recent {
		s += ".Recent"
	}
	if p.fourEyes {
		s += ".FourEyes"
	}
	return s
}

type tokenPolicy struct{}

// Token routes are authorised by a single-use token in the request body (an
// e-mail link: verification, password reset, staff enrolment).
var Token Policy = tokenPolicy{}

// authorize refuses everyone until single-use tokens exist.
func (tokenPolicy) authorize(_ *Server, _ *http.Request) (*http.Request, error) {
	return nil, errSignInRequired
}
func (tokenPolicy) String() string { return "Token" }
