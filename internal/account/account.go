// Package account is the customer side of resguardo: registration, e-mail
// verification, sign-in with throttling, web sessions and app tokens,
// password change and reset, and the encrypted profile. It combines the
// vault (sealing, blind indexes), auth (passwords, tokens), the store and
// the mail outbox; handlers call it and nothing else.
package account

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/mail"
	"github.com/resguardo/resguardo/internal/passkey"
	"github.com/resguardo/resguardo/internal/sqlstore"
	"github.com/resguardo/resguardo/internal/vault"
)

// Options are the lifetimes and links of the customer side.
type Options struct {
	// BaseURL is the customer site's public origin, for links in mail.
	BaseURL         string
	SessionIdle     time.Duration // web session idle timeout (30 min)
	SessionAbsolute time.Duration // web session absolute timeout (12 h)
	AccessTTL       time.Duration // app access token (15 min)
	RefreshTTL      time.Duration // app refresh token (30 days)
	// AppSigninAbsolute ends an app sign-in (a token family) this long after
	// the password was given, however often it was refreshed (90 days).
	AppSigninAbsolute time.Duration
	VerifyTTL         time.Duration // e-mail verification link (48 h)
	ResetTTL          time.Duration // password reset link (30 min)
	// MailPerMinute is the global sending budget, shared by every server
	// of the deployment through the database (resguardo.DefaultMailPerMinute).
	MailPerMinute int
	Now           func() time.Time
}

// DefaultAppSigninAbsolute is how long an app sign-in lasts at most.
const DefaultAppSigninAbsolute = 90 * 24 * time.Hour

// DefaultOptions are docs/contract.md §2 and §4's lifetimes.
func DefaultOptions(baseURL string) Options {
	return Options{
		BaseURL: baseURL, SessionIdle: 30 * time.Minute, SessionAbsolute: 12 * time.Hour,
		AccessTTL: 15 * time.Minute, RefreshTTL: 30 * 24 * time.Hour, AppSigninAbsolute: DefaultAppSigninAbsolute,
		VerifyTTL: 48 * time.Hour, ResetTTL: 30 * time.Minute, MailPerMinute: resguardo.DefaultMailPerMinute, Now: time.Now,
	}
}

// Service is the customer account service.
type Service struct {
	db     *sqlstore.DB
	vault  *vault.Vault
	hasher *auth.Hasher
	log    *slog.Logger
	o      Options
	audit  *audit.Log
	bg     sync.WaitGroup // work answered before it is done
	// activity holds last-seen times waiting to be written (activity.go).
	activity *activity
	// rp is the customer site's passkey relying party, for BaseURL's
	// origin (nil when BaseURL is no origin: passkeys are then refused).
	rp *passkey.RP
}

// event is an audit entry about a customer's own account, done by the
// customer (or, with actor set to anonymous, by someone unknown).
func event(action, customerID, outcome string, fields ...string) resguardo.AuditEvent {
	return resguardo.CustomerActor(customerID).Event(action, resguardo.TargetCustomer, customerID, outcome, fields...)
}

// anonymous is an event by someone not (yet) known to be the customer.
func anonymous(action, customerID, outcome string) resguardo.AuditEvent {
	ev := event(action, customerID, outcome)
	ev.ActorKind, ev.ActorID = resguardo.ActorAnonymous, ""
	if customerID == "" {
		ev.TargetKind = ""
	}
	return ev
}

// AccessLog lists the audit entries about a customer, newest first, before
// the entry number cursor (0 for the newest), at most limit, as the customer may see
// them (customerView): every surface that shows a customer their log (the
// page, the API, the export) reads it here.
func (s *Service) AccessLog(ctx context.Context, customerID string, before int64, limit int) ([]resguardo.AuditEvent, error) {
	rows, err := s.db.Conn().AuditForTarget(ctx, resguardo.TargetCustomer, customerID, before, limit)
	if err != nil {
		return nil, err
	}
	out := make([]resguardo.AuditEvent, len(rows))
	for i, r := range rows {
		out[i] = customerView(r.AuditEvent)
	}
	return out, nil
}

// customerView is an audit entry as its customer sees it. Staff appear by
// role only: their id, network and device stay in the trail for auditors.
// The network and device are kept only for what the customer did and for
// attempts on the account by someone not signed in (failed sign-ins),
// which the owner needs to judge.
func customerView(ev resguardo.AuditEvent) resguardo.AuditEvent {
	if ev.ActorKind != resguardo.ActorCustomer {
		ev.ActorID = ""
	}
	if ev.ActorKind != resguardo.ActorCustomer && ev.ActorKind != resguardo.ActorAnonymous {
		ev.Client = ""
	}
	return ev
}

// background runs fn after the request has been answered, detached from
// the request's cancellation but bounded in time; failures are logged.
func (s *Service) background(ctx context.Context, what string, fn func(context.Context) error) {
	s.bg.Go(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := fn(ctx); err != nil {
			s.log.ErrorContext(ctx, "background work failed", "what", what, "err", err)
		}
	})
}

// Wait returns once background work has finished and pending activity is
// written (shutdown, tests).
func (s *Service) Wait() {
	s.bg.Wait()
	if err := s.FlushActivity(context.Background()); err != nil {
		s.log.Error("activity not written", "err", err)
	}
}

// New returns the service.
func New(db *sqlstore.DB, v *vault.Vault, h *auth.Hasher, a *audit.Log, log *slog.Logger, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MailPerMinute < 1 {
		o.MailPerMinute = resguardo.DefaultMailPerMinute
	}
	svc := &Service{db: db, vault: v, hasher: h, audit: a, log: log, o: o, activity: newActivity()}
	rp, err := passkey.New(o.BaseURL, "resguardo")
	if err != nil {
		log.Warn("passkeys off: the site origin makes no relying party", "err", err)
	} else {
		svc.rp = rp
	}
	return svc
}

func (s *Service) now() time.Time { return s.o.Now() }

// newID returns a random identifier for URLs and rows: 128 bits, base32.
func newID() string { return rand.Text() }

// Blind-index kinds.
const (
	indexEmail = "email"
	indexPhone = "phone"
)

// Sealed columns, from the store's one registry: the associated data names
// table and column, so a value cannot be moved elsewhere and still open.
var (
	cEmail         = sqlstore.SealedCustomerEmail
	cName          = sqlstore.SealedCustomerName
	cPhone         = sqlstore.SealedPhone
	cAddress       = sqlstore.SealedAddress
	cSessionDevice = sqlstore.SealedSessionDevice
	cFamilyDevice  = sqlstore.SealedFamilyDevice
	cOutbox        = sqlstore.SealedOutbox
	cPasskeyRecord = sqlstore.SealedPasskeyRecord
	cPasskeyName   = sqlstore.SealedPasskeyName
	cTOTP          = sqlstore.SealedTOTP
	cPendingEmail  = sqlstore.SealedPendingEmail
)

// errUnauthenticated is the one answer to any failed sign-in or bad token:
// it says nothing about which part was wrong.
var errUnauthenticated = resguardo.Errorf(resguardo.EUnauthenticated, "The e-mail address or password is not correct.")

var errSessionInvalid = resguardo.Errorf(resguardo.EUnauthenticated, "Sign in to continue.")

// dataKey opens a customer's data key.
func (s *Service) dataKey(row sqlstore.CustomerRow) (*vault.DataKey, error) {
	dk, err := s.vault.DataKey(row.ID, row.DataKey)
	if err != nil {
		return nil, fmt.Errorf("data key of %s: %w", row.ID, err)
	}
	return dk, nil
}

// sealJSON seals v as JSON into table.column of row id.
func sealJSON(dk *vault.DataKey, v any, table, column, id string) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return dk.Seal(b, table, column, id)
}

func openJSON(dk *vault.DataKey, sealed []byte, v any, table, column, id string) error {
	b, err := dk.Open(sealed, table, column, id)
	if err != nil {
		return fmt.Errorf("open %s.%s of %s: %w", table, column, id, err)
	}
	return json.Unmarshal(b, v)
}

func (s *Service) openString(dk *vault.DataKey, sealed []byte, table, column, id string) (string, error) {
	b, err := dk.Open(sealed, table, column, id)
	if err != nil {
		return "", fmt.Errorf("open %s.%s of %s: %w", table, column, id, err)
	}
	return string(b), nil
}

// queueMail seals a message under the recipient's data key and queues it in
// the caller's transaction, so mail goes out if and only if the change
// that sends it commits.
func (s *Service) queueMail(ctx context.Context, c sqlstore.Conn, customerID string, dk *vault.DataKey, m mail.Message) error {
	id := newID()
	sealed, err := sealJSON(dk, m, cOutbox.Table, cOutbox.Column, id)
	if err != nil {
		return fmt.Errorf("seal mail: %w", err)
	}
	now := s.now().Unix()
	return c.InsertOutbox(ctx, sqlstore.OutboxRow{ID: id, CustomerID: customerID, Sealed: sealed, CreatedAt: now, NextAttemptAt: now})
}

// compose renders a mail, falling back to English.
func compose(kind mail.Kind, lang string, to resguardo.Email, data mail.Data) (mail.Message, error) {
	m, err := mail.Compose(kind, lang, string(to), data)
	if err != nil {
		return m, fmt.Errorf("compose %s mail: %w", kind, err)
	}
	return m, nil
}

// customerByEmail finds the account of a normalised address, whichever
// blind-index key version its row was indexed under.
func (s *Service) customerByEmail(ctx context.Context, email resguardo.Email) (sqlstore.CustomerRow, error) {
	indexes, err := s.vault.BlindIndexes(indexEmail, string(email))
	if err != nil {
		return sqlstore.CustomerRow{}, err
	}
	return s.db.Conn().CustomerByEmailIndex(ctx, indexes...)
}
