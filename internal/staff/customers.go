package staff

import (
	"context"
	"crypto/rand"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/metrics"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// MaskedCustomer is a customer as agents and leads see them: masked values
// only (docs/contract.md §11).
type MaskedCustomer struct {
	ID            string
	Name          string
	Email         string
	EmailVerified bool
	TOTPEnabled   bool
	Locked        bool
	Phones        []MaskedItem
	Addresses     []MaskedItem
	CreatedAt     time.Time
}

// MaskedItem is one phone or address, masked, with its id for reveal and edit.
type MaskedItem struct {
	ID, Label, Masked string
}

func mask(c resguardo.Customer) MaskedCustomer {
	m := MaskedCustomer{ID: c.ID, Name: resguardo.MaskName(c.Name), Email: resguardo.MaskEmail(c.Email), EmailVerified: c.EmailVerified,
		TOTPEnabled: c.TOTPEnabled, Locked: c.Locked, CreatedAt: c.CreatedAt}
	for _, ph := range c.Phones {
		m.Phones = append(m.Phones, MaskedItem{ID: ph.ID, Label: ph.Label, Masked: resguardo.MaskPhone(ph.Number)})
	}
	for _, a := range c.Addresses {
		m.Addresses = append(m.Addresses, MaskedItem{ID: a.ID, Label: a.Label, Masked: resguardo.MaskAddress(a)})
	}
	return m
}

var errQuery = &resguardo.Error{Code: resguardo.EInvalid, Message: "Search by an exact e-mail address, an exact phone number with its country code, or a customer id.",
	Fields: []resguardo.FieldProblem{{Field: "q", Detail: "must be an e-mail address, a +phone number or an id"}}}

// Search finds customers by exact e-mail (blind index), exact phone (blind
// index) or id, and returns them masked. Each customer found is recorded as
// viewed; a search that finds nobody is recorded, without its terms.
func (s *Service) Search(ctx context.Context, p Principal, q string) ([]MaskedCustomer, error) {
	if err := s.require(p, OpSearch); err != nil {
		return nil, err
	}
	q = strings.TrimSpace(q)
	var ids []string
	switch {
	case strings.Contains(q, "@"):
		id, err := s.accounts.FindByEmail(ctx, q)
		if err != nil && resguardo.ErrorCode(err) != resguardo.ENotFound {
			return nil, errQuery
		}
		if id != "" {
			ids = []string{id}
		}
	case strings.HasPrefix(q, "+"):
		found, err := s.accounts.FindByPhone(ctx, q)
		if resguardo.ErrorCode(err) == resguardo.EInvalid {
			return nil, errQuery
		}
		if err != nil {
			return nil, err
		}
		ids = found
	case len(q) == 26 && strings.Trim(strings.ToUpper(q), "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == "":
		ok, err := s.accounts.Exists(ctx, strings.ToUpper(q))
		if err != nil {
			return nil, err
		}
		if ok {
			ids = []string{strings.ToUpper(q)}
		}
	default:
		return nil, errQuery
	}
	// A search that finds customers is recorded by their views (one entry
	// each, which the customers see); one that finds nobody is recorded as
	// a failed search, so fishing for addresses or numbers leaves a trace.
	if len(ids) == 0 {
		if err := s.record(ctx, staffEvent(p, resguardo.ActCustomerSearched, "", "", resguardo.OutcomeFailure)); err != nil {
			return nil, err
		}
	}
	out := make([]MaskedCustomer, 0, len(ids))
	for _, id := range ids {
		m, err := s.viewFound(ctx, p, id)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// View returns one customer, masked, and records the view in the trail
// (the customer sees it in their access log as a view by that role).
func (s *Service) View(ctx context.Context, p Principal, id string) (MaskedCustomer, error) {
	if err := s.require(p, OpView); err != nil {
		return MaskedCustomer{}, err
	}
	c, err := s.accounts.Profile(ctx, id)
	if err != nil {
		return MaskedCustomer{}, err
	}
	if err := s.recordView(ctx, p, id); err != nil {
		return MaskedCustomer{}, err // no unaudited views
	}
	return mask(c), nil
}

// viewFound is View of a customer a search has just found. The view's
// entry is committed while the customer is read, so the search costs the
// longer of the two (a durable commit is the slower) rather than their sum;
// nothing is returned unless the entry committed.
func (s *Service) viewFound(ctx context.Context, p Principal, id string) (MaskedCustomer, error) {
	recorded := make(chan error, 1)
	go func() { recorded <- s.recordView(ctx, p, id) }()
	c, err := s.accounts.Profile(ctx, id)
	if rerr := <-recorded; rerr != nil {
		return MaskedCustomer{}, rerr // no unaudited views
	}
	if err != nil {
		return MaskedCustomer{}, err
	}
	return mask(c), nil
}

func (s *Service) recordView(ctx context.Context, p Principal, id string) error {
	return s.audit.Record(ctx, staffEvent(p, resguardo.ActCustomerViewed, resguardo.TargetCustomer, id, resguardo.OutcomeSuccess))
}

// minReasonRunes and minReasonWords make a reason more than a shrug.
const (
	minReasonRunes = 15
	minReasonWords = 3
)

// Revealed is what a reveal shows: the customer's page, masked, and the
// one value asked for, in clear.
type Revealed struct {
	Customer MaskedCustomer
	Field    string // the audited name: "name", "email", "phone" or "address"
	Value    string
}

// Reveal returns one personal field of one customer in clear, for a written
// reason, together with the customer masked for the page that shows it: the
// profile is opened once, and the one audit entry (a reveal, with the field
// name and the reason) also stands for the view of the masked page, which
// the customer sees in their access log as a reveal. Reveals are limited
// per staff member per hour. field is "name", "email", "phone:<id>" or
// "address:<id>".
func (s *Service) Reveal(ctx context.Context, p Principal, customerID, field, reasonIn string) (Revealed, error) {
	if err := s.require(p, OpReveal); err != nil {
		return Revealed{}, err
	}
	reason, err := resguardo.CleanText("reason", reasonIn, 1, 500)
	if err != nil {
		return Revealed{}, err
	}
	if utf8.RuneCountInString(reason) < minReasonRunes || len(strings.Fields(reason)) < minReasonWords {
		return Revealed{}, &resguardo.Error{Code: resguardo.EInvalid, Message: "Say why you need to see this value, in a few words.",
			Fields: []resguardo.FieldProblem{{Field: "reason", Detail: "must be at least 3 words and 15 characters"}}}
	}
	c, err := s.accounts.Profile(ctx, customerID)
	if err != nil {
		return Revealed{}, err
	}
	value, name, ok := fieldValue(c, field)
	if !ok {
		return Revealed{}, &resguardo.Error{Code: resguardo.EInvalid, Message: "Unknown field.", Fields: []resguardo.FieldProblem{{Field: "field", Detail: "is not a field of this customer"}}}
	}
	now := s.now()
	err = s.db.Tx(ctx, func(tx sqlstore.Conn) error {
		n, err := tx.CountReveals(ctx, p.StaffID, now.Add(-time.Hour).Unix())
		if err != nil {
			return err
		}
		if n >= s.o.RevealsPerHour {
			metrics.ThrottleRefusal("reveals_per_hour")
			return &resguardo.Error{Code: resguardo.ERateLimited, Message: "You have revealed too many values in the last hour.", RetryAfter: 10 * time.Minute}
		}
		if err := tx.InsertReveal(ctx, p.StaffID, now.Unix()); err != nil {
			return err
		}
		ev := staffEvent(p, resguardo.ActCustomerRevealed, resguardo.TargetCustomer, customerID, resguardo.OutcomeSuccess)
		ev.Fields, ev.Reason = []string{name}, reason
		return s.audit.Append(ctx, tx, ev)
	})
	if err != nil {
		return Revealed{}, err
	}
	metrics.Reveal(string(p.Role))
	return Revealed{Customer: mask(c), Field: name, Value: value}, nil
}

// fieldValue picks a field of a customer: its value and its audited name.
func fieldValue(c resguardo.Customer, field string) (value, name string, ok bool) {
	kind, id, _ := strings.Cut(field, ":")
	switch kind {
	case "name":
		return c.Name, "name", id == ""
	case "email":
		return string(c.Email), "email", id == ""
	case "phone":
		for _, ph := range c.Phones {
			if ph.ID == id {
				return ph.Number, "phone", true
			}
		}
	case "address":
		for _, a := range c.Addresses {
			if a.ID == id {
				parts := []string{a.Line1, a.Line2, strings.TrimSpace(a.PostalCode + " " + a.City), a.Region, a.Country}
				var kept []string
				for _, x := range parts {
					if x != "" {
						kept = append(kept, x)
					}
				}
				return strings.Join(kept, ", "), "address", true
			}
		}
	}
	return "", "", false
}

// EditName changes a customer's name (agents and leads).
func (s *Service) EditName(ctx context.Context, p Principal, customerID, name string) error {
	if err := s.require(p, OpEditName); err != nil {
		return err
	}
	return s.accounts.UpdateName(ctx, p.Actor(), customerID, name)
}

// SaveAddress adds (empty id) or replaces a customer's address.
func (s *Service) SaveAddress(ctx context.Context, p Principal, customerID string, a resguardo.Address) error {
	if err := s.require(p, OpSaveAddress); err != nil {
		return err
	}
	if a.ID == "" {
		_, err := s.accounts.AddAddress(ctx, p.Actor(), customerID, a)
		return err
	}
	_, err := s.accounts.UpdateAddress(ctx, p.Actor(), customerID, a)
	return err
}

// DeleteAddress removes a customer's address.
func (s *Service) DeleteAddress(ctx context.Context, p Principal, customerID, addressID string) error {
	if err := s.require(p, OpDeleteAddress); err != nil {
		return err
	}
	return s.accounts.DeleteAddress(ctx, p.Actor(), customerID, addressID)
}

// Critical operations: leads only, with step-up.

// ChangeEmail sends a confirmation link to the customer's new address; the
// change happens when the customer follows it (and the old address is told).
func (s *Service) ChangeEmail(ctx context.Context, p Principal, customerID, email string) error {
	if err := s.require(p, OpChangeEmail); err != nil {
		return err
	}
	return s.accounts.RequestEmailChange(ctx, p.Actor(), account.Principal{CustomerID: customerID}, email, p.Lang)
}

// AddPhone adds a phone number to a customer.
func (s *Service) AddPhone(ctx context.Context, p Principal, customerID, label, number string) error {
	if err := s.require(p, OpAddPhone); err != nil {
		return err
	}
	_, err := s.accounts.AddPhone(ctx, p.Actor(), customerID, label, number)
	return err
}

// DeletePhone removes a customer's phone number.
func (s *Service) DeletePhone(ctx context.Context, p Principal, customerID, phoneID string) error {
	if err := s.require(p, OpDeletePhone); err != nil {
		return err
	}
	return s.accounts.DeletePhone(ctx, p.Actor(), customerID, phoneID)
}

// ResetSecondFactor turns a customer's TOTP off.
func (s *Service) ResetSecondFactor(ctx context.Context, p Principal, customerID string) error {
	if err := s.require(p, OpResetMFA); err != nil {
		return err
	}
	return s.accounts.ResetSecondFactor(ctx, p.Actor(), customerID, "")
}

// SetLocked locks or unlocks a customer.
func (s *Service) SetLocked(ctx context.Context, p Principal, customerID string, locked bool) error {
	if err := s.require(p, OpSetLocked); err != nil {
		return err
	}
	action := resguardo.ActCustomerUnlocked
	if locked {
		action = resguardo.ActCustomerLocked
	}
	// Locking ends every session and app sign-in at once.
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.SetCustomerLocked(ctx, customerID, locked); err != nil {
			return err
		}
		if locked {
			if err := account.EndSessions(ctx, c, customerID); err != nil {
				return err
			}
		}
		return s.audit.Append(ctx, c, staffEvent(p, action, resguardo.TargetCustomer, customerID, resguardo.OutcomeSuccess))
	})
}

// RevokeSessions ends every session and app sign-in of a customer.
func (s *Service) RevokeSessions(ctx context.Context, p Principal, customerID string) error {
	if err := s.require(p, OpRevokeSessions); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := account.EndSessions(ctx, c, customerID); err != nil {
			return err
		}
		return s.audit.Append(ctx, c, staffEvent(p, resguardo.ActCustomerSessionsRevoked, resguardo.TargetCustomer, customerID, resguardo.OutcomeSuccess))
	})
}

func newID() string { return rand.Text() }
