package resguardo

import (
	"net/netip"
)

// Facts about a request that the HTTP layer computes once and the services
// use: which network a client is (for guessing limits and for what a
// customer is shown) and which language it reads (for the mail a request
// causes). They live in the domain so that the server computes them without
// reaching into a service's internals, and every service reads the same
// answer.

// ThrottleNetwork is what guessing limits treat as one client: an IPv4
// address, or the /64 of an IPv6 address (what one subscriber is given).
func ThrottleNetwork(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return "unknown"
	}
	return p.String()
}

// CoarseNetwork is the /24 (IPv4) or /48 (IPv6) of an address, shown to a
// customer beside their sessions and sign-ins: enough to recognise a place,
// not enough to pin a household.
func CoarseNetwork(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	a = a.Unmap()
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return "unknown"
	}
	return p.String()
}
