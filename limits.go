package resguardo

import "time"

// Bounds on growth: what one customer, one client network or the whole
// deployment can make the service store or send. They live here, in one
// place, so that the code, the messages that quote them and the operator's
// documentation (README.md, "Limits") agree. Without them one client could
// fill an account with thousands of rows (every profile read then opens
// them all), register without end, or make the service mail without end.
const (
	// MaxPhones and MaxAddresses bound a customer's collections: the next
	// add is refused with a conflict naming the collection, and changes
	// nothing. They hold for the customer, the API and the back office.
	MaxPhones    = 10
	MaxAddresses = 10

	// MaxWebSessions and MaxAppSignIns bound a customer's live browser
	// sessions and app sign-ins (token families). A new sign-in is never
	// refused for it: it ends the least recently used one of its kind, so
	// the owner can always sign in.
	MaxWebSessions = 20
	MaxAppSignIns  = 20

	// SignUpsPerNetwork is how many registrations (API and web together)
	// one client network may make in SignUpWindow; past it the answer is
	// 429 with Retry-After until the window has passed, and nothing is
	// stored or mailed. A network is an IPv4 address or an IPv6 /64.
	SignUpsPerNetwork = 20

	// UnsolicitedMailPerNetwork is how many requests that mail someone who
	// did not ask for it — registrations (whether or not the address is
	// taken) and password-reset requests — one client network may make in
	// SignUpWindow; past it, 429 with Retry-After. Each address also gets
	// at most three such mails an hour, whatever the network.
	UnsolicitedMailPerNetwork = 30

	// OutboxCeiling is how many messages may wait in the outbox before
	// requests that would add unsolicited mail (registrations, reset
	// requests) are answered 429 instead of queueing more.
	OutboxCeiling = 1000

	// DefaultMailPerMinute is the default global sending budget: messages
	// per minute for the whole deployment, shared by every server through
	// the database (--mail-per-minute). Mail past it waits in the outbox.
	DefaultMailPerMinute = 120
)

// SignUpWindow is the period SignUpsPerNetwork and UnsolicitedMailPerNetwork
// count over.
const SignUpWindow = time.Hour
