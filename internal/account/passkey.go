package account

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/passkey"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// Passkeys (WebAuthn). A customer may add several, sign in with one alone
// (a discoverable credential: no e-mail typed), or use one as the second
// factor after the password instead of a TOTP code. Every ceremony is a
// challenge stored server-side, single use, expiring with passkey.Timeout,
// and bound to what began it: the session or app sign-in (adding one,
// step-up), the pending second factor (after the password), or, for a
// sign-in with a passkey alone, the ceremony token only its client holds.

// MaxPasskeys bounds a customer's passkeys.
const MaxPasskeys = 10

// Ceremony purposes (stored with the challenge; a challenge begun for one
// cannot finish another).
const (
	pkRegister = "register"
	pkSignIn   = "signin"
	pkMFA      = "mfa"
	pkReauth   = "reauth"
)

var (
	errPasskeysOff = resguardo.Errorf(resguardo.EConflict, "Passkeys are not available on this server.")
	// errPasskeyRefused is the one answer to a ceremony that fails: it says
	// nothing about which check refused it.
	errPasskeyRefused = resguardo.Errorf(resguardo.EUnauthenticated, "The passkey could not be verified. Try again.")
	errPasskeyLimit   = &resguardo.Error{Code: resguardo.EConflict,
		Message: fmt.Sprintf("An account can have at most %d passkeys. Remove one to add another.", MaxPasskeys),
		Fields:  []resguardo.FieldProblem{{Field: "passkeys", Detail: fmt.Sprintf("at most %d", MaxPasskeys)}}}
)

// PasskeyCeremony is a begun ceremony: the token that finishes it and the
// options for navigator.credentials.create/get.
type PasskeyCeremony struct {
	Token   string          `json:"ceremony"`
	Options json.RawMessage `json:"options"`
}

// PasskeyInfo is one passkey as its owner sees it.
type PasskeyInfo struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// PasskeyRP is the customer site's relying party (nil when the site's
// origin could not make one).
func (s *Service) PasskeyRP() *passkey.RP { return s.rp }

// binding names what a ceremony of the principal is bound to.
func binding(p Principal) string { return p.Kind + ":" + p.SessionID }

// mfaBinding binds a second-factor ceremony to its pending sign-in.
func mfaBinding(mfaToken string) string { return "mfa:" + hex.EncodeToString(auth.TokenHash(mfaToken)) }

// storedPasskey is a passkey row opened.
type storedPasskey struct {
	row  sqlstore.PasskeyRow
	cred passkey.Credential
	name string
}

// passkeyUser loads the customer as the relying party sees them: their
// user handle (made on first use), their e-mail as the name the
// authenticator shows, and their credentials with the stored counters.
func (s *Service) passkeyUser(ctx context.Context, customerID string, create bool) (passkey.User, []storedPasskey, error) {
	conn := s.db.Conn()
	handle, err := conn.PasskeyHandle(ctx, customerID)
	if resguardo.ErrorCode(err) == resguardo.ENotFound && create {
		if err := conn.PutPasskeyHandle(ctx, customerID, passkey.NewHandle()); err != nil {
			return passkey.User{}, nil, err
		}
		handle, err = conn.PasskeyHandle(ctx, customerID)
	}
	if err != nil {
		return passkey.User{}, nil, err
	}
	row, err := conn.CustomerByID(ctx, customerID)
	if err != nil {
		return passkey.User{}, nil, err
	}
	dk, err := s.dataKey(row)
	if err != nil {
		return passkey.User{}, nil, err
	}
	email, err := s.openString(dk, row.EmailSealed, cEmail.Table, cEmail.Column, row.ID)
	if err != nil {
		return passkey.User{}, nil, err
	}
	rows, err := conn.Passkeys(ctx, customerID)
	if err != nil {
		return passkey.User{}, nil, err
	}
	u := passkey.User{Handle: handle, Name: email}
	stored := make([]storedPasskey, 0, len(rows))
	for _, r := range rows {
		var cred passkey.Credential
		if err := openJSON(dk, r.RecordSealed, &cred, cPasskeyRecord.Table, cPasskeyRecord.Column, r.ID); err != nil {
			return passkey.User{}, nil, err
		}
		// The column is the counter's truth; the sealed record keeps the
		// value it had when registered.
		cred.Authenticator.SignCount = r.SignCount
		name, err := s.openString(dk, r.NameSealed, cPasskeyName.Table, cPasskeyName.Column, r.ID)
		if err != nil {
			return passkey.User{}, nil, err
		}
		u.Credentials = append(u.Credentials, cred)
		stored = append(stored, storedPasskey{row: r, cred: cred, name: name})
	}
	return u, stored, nil
}

// beginCeremony stores a ceremony's session data as a challenge and
// returns the token that finishes it.
func (s *Service) beginCeremony(ctx context.Context, purpose, bind, customerID string, c passkey.Ceremony) (PasskeyCeremony, error) {
	token, hash := auth.NewToken()
	now := s.now()
	err := s.db.Conn().InsertPasskeyChallenge(ctx, sqlstore.PasskeyChallengeRow{TokenHash: hash, Purpose: purpose, Binding: bind,
		CustomerID: customerID, SessionData: c.Session, ExpiresAt: now.Add(passkey.Timeout).Unix()}, now.Unix())
	if err != nil {
		return PasskeyCeremony{}, err
	}
	return PasskeyCeremony{Token: token, Options: c.Options}, nil
}

// takeCeremony consumes a ceremony's challenge (used even if what follows
// fails: a challenge never serves twice). Anything but an unused,
// unexpired challenge of this purpose and binding is refused.
func (s *Service) takeCeremony(ctx context.Context, token, purpose, bind string) (sqlstore.PasskeyChallengeRow, error) {
	if token == "" {
		return sqlstore.PasskeyChallengeRow{}, errPasskeyRefused
	}
	ch, err := s.db.Conn().TakePasskeyChallenge(ctx, auth.TokenHash(token), purpose, bind, s.now().Unix())
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		return ch, errPasskeyRefused
	}
	return ch, err
}

// BeginPasskeyRegistration starts adding a passkey (the route demands
// recent authentication).
func (s *Service) BeginPasskeyRegistration(ctx context.Context, p Principal) (PasskeyCeremony, error) {
	if s.rp == nil {
		return PasskeyCeremony{}, errPasskeysOff
	}
	u, _, err := s.passkeyUser(ctx, p.CustomerID, true)
	if err != nil {
		return PasskeyCeremony{}, err
	}
	if len(u.Credentials) >= MaxPasskeys {
		return PasskeyCeremony{}, errPasskeyLimit
	}
	c, err := s.rp.BeginRegistration(u)
	if err != nil {
		return PasskeyCeremony{}, err
	}
	return s.beginCeremony(ctx, pkRegister, binding(p), p.CustomerID, c)
}

// FinishPasskeyRegistration verifies the browser's answer and stores the
// passkey, sealed, under the name given. Like any change of the second
// factor it ends every other session and app sign-in and mails the owner.
// When it is the account's first second factor, ten recovery codes are
// made and returned, to show once.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, p Principal, token, nameIn string, response []byte, lang string) (PasskeyInfo, []string, error) {
	if s.rp == nil {
		return PasskeyInfo{}, nil, errPasskeysOff
	}
	name, err := passkeyName(nameIn)
	if err != nil {
		return PasskeyInfo{}, nil, err
	}
	ch, err := s.takeCeremony(ctx, token, pkRegister, binding(p))
	if err != nil {
		return PasskeyInfo{}, nil, err
	}
	u, _, err := s.passkeyUser(ctx, p.CustomerID, false)
	if err != nil {
		return PasskeyInfo{}, nil, err
	}
	cred, err := s.rp.FinishRegistration(u, ch.SessionData, response)
	if err != nil {
		s.log.InfoContext(ctx, "passkey registration refused", "customer", p.CustomerID, "err", err)
		return PasskeyInfo{}, nil, s.passkeyFailed(ctx, p.CustomerID)
	}
	dk, err := s.customerKey(ctx, p.CustomerID)
	if err != nil {
		return PasskeyInfo{}, nil, err
	}
	id := newID()
	record, err := sealJSON(dk, cred, cPasskeyRecord.Table, cPasskeyRecord.Column, id)
	if err != nil {
		return PasskeyInfo{}, nil, err
	}
	nameSealed, err := dk.Seal([]byte(name), cPasskeyName.Table, cPasskeyName.Column, id)
	if err != nil {
		return PasskeyInfo{}, nil, err
	}
	codes, keyID, macs, err := s.newRecoveryCodes(p.CustomerID)
	if err != nil {
		return PasskeyInfo{}, nil, err
	}
	now := s.now()
	first := false
	err = s.secondFactorChange(ctx, resguardo.CustomerActor(p.CustomerID), p, lang, resguardo.ActPasskeyAdded, "passkey", func(c sqlstore.Conn) error {
		n, err := c.CountPasskeys(ctx, p.CustomerID)
		if err != nil {
			return err
		}
		if n >= MaxPasskeys {
			return errPasskeyLimit
		}
		on, err := s.totpEnabled(ctx, c, p.CustomerID)
		if err != nil {
			return err
		}
		if err := c.InsertPasskey(ctx, sqlstore.PasskeyRow{ID: id, CustomerID: p.CustomerID, CredentialID: cred.ID,
			RecordSealed: record, NameSealed: nameSealed, SignCount: cred.Authenticator.SignCount, CreatedAt: now.Unix()}); err != nil {
			return err
		}
		if first = n == 0 && !on; first {
			return c.ReplaceRecoveryCodes(ctx, p.CustomerID, keyID, macs)
		}
		return nil
	})
	if err != nil {
		return PasskeyInfo{}, nil, err
	}
	if !first {
		codes = nil
	}
	return PasskeyInfo{ID: id, Name: name, CreatedAt: now.UTC().Truncate(time.Second)}, codes, nil
}

// passkeyName cleans the name a customer gives a passkey ("Passkey" when
// none).
func passkeyName(in string) (string, error) {
	name, err := resguardo.ParseDeviceName(in)
	if err != nil {
		return "", &resguardo.Error{Code: resguardo.EInvalid, Message: "The name is not valid.",
			Fields: []resguardo.FieldProblem{{Field: "name", Detail: fmt.Sprintf("must be plain text of at most %d characters", resguardo.MaxDeviceName)}}}
	}
	if name == "" {
		name = "Passkey"
	}
	return name, nil
}

// Passkeys lists the customer's passkeys.
func (s *Service) Passkeys(ctx context.Context, customerID string) ([]PasskeyInfo, error) {
	rows, err := s.db.Conn().Passkeys(ctx, customerID)
	if err != nil || len(rows) == 0 {
		return []PasskeyInfo{}, err
	}
	dk, err := s.customerKey(ctx, customerID)
	if err != nil {
		return nil, err
	}
	out := make([]PasskeyInfo, 0, len(rows))
	for _, r := range rows {
		name, err := s.openString(dk, r.NameSealed, cPasskeyName.Table, cPasskeyName.Column, r.ID)
		if err != nil {
			return nil, err
		}
		info := PasskeyInfo{ID: r.ID, Name: name, CreatedAt: time.Unix(r.CreatedAt, 0).UTC()}
		if r.LastUsedAt > 0 {
			t := time.Unix(r.LastUsedAt, 0).UTC()
			info.LastUsedAt = &t
		}
		out = append(out, info)
	}
	return out, nil
}

// RenamePasskey gives one of the customer's passkeys a new name.
func (s *Service) RenamePasskey(ctx context.Context, p Principal, id, nameIn string) error {
	name, err := passkeyName(nameIn)
	if err != nil {
		return err
	}
	dk, err := s.customerKey(ctx, p.CustomerID)
	if err != nil {
		return err
	}
	sealed, err := dk.Seal([]byte(name), cPasskeyName.Table, cPasskeyName.Column, id)
	if err != nil {
		return err
	}
	return s.change(ctx, resguardo.CustomerActor(p.CustomerID), p.CustomerID, resguardo.ActPasskeyRenamed, []string{"passkey_name"}, func(c sqlstore.Conn) error {
		return c.RenamePasskey(ctx, p.CustomerID, id, sealed)
	})
}

// RemovePasskey removes one of the customer's passkeys: a change of the
// second factor (other sessions end, the owner is mailed). With the last
// passkey gone and no TOTP, the recovery codes go too: there is no second
// factor left for them to stand in for.
func (s *Service) RemovePasskey(ctx context.Context, p Principal, id, lang string) error {
	return s.secondFactorChange(ctx, resguardo.CustomerActor(p.CustomerID), p, lang, resguardo.ActPasskeyRemoved, "passkey", func(c sqlstore.Conn) error {
		if err := c.DeletePasskey(ctx, p.CustomerID, id); err != nil {
			return err
		}
		n, err := c.CountPasskeys(ctx, p.CustomerID)
		if err != nil {
			return err
		}
		on, err := s.totpEnabled(ctx, c, p.CustomerID)
		if err != nil || n > 0 || on {
			return err
		}
		return c.ReplaceRecoveryCodes(ctx, p.CustomerID, 0, nil)
	})
}

// hasPasskeys reports whether the customer has any passkey.
func (s *Service) hasPasskeys(ctx context.Context, c sqlstore.Conn, customerID string) (bool, error) {
	n, err := c.CountPasskeys(ctx, customerID)
	return n > 0, err
}

// BeginPasskeySignIn starts a sign-in with a passkey alone: any
// discoverable passkey of this site, user verification required. The
// ceremony token is the sign-in attempt: only its holder can finish it.
// Anyone may ask, so each stored challenge counts against the client's
// network (keyPasskeyChallenge): one client cannot fill the challenge
// table.
func (s *Service) BeginPasskeySignIn(ctx context.Context, client netip.Addr) (PasskeyCeremony, error) {
	if s.rp == nil {
		return PasskeyCeremony{}, errPasskeysOff
	}
	if _, err := s.claimAttempt(ctx, keyPasskeyChallenge+resguardo.ThrottleNetwork(client)); err != nil {
		return PasskeyCeremony{}, err
	}
	c, err := s.rp.BeginLogin(nil)
	if err != nil {
		return PasskeyCeremony{}, err
	}
	return s.beginCeremony(ctx, pkSignIn, pkSignIn, "", c)
}

// FinishPasskeySignIn verifies a sign-in with a passkey alone and returns
// the customer it belongs to (a session or tokens are then issued as
// after any sign-in).
//
// Each attempt counts against the client's network like a failed password
// from an unknown device ("nt:"), before anything is checked, and is taken
// back when the passkey verifies or the system failed: refused passkeys
// slow the client down. Nothing counts against the account (no passkey
// names it before it verifies), so no one can lock its owner out this way.
func (s *Service) FinishPasskeySignIn(ctx context.Context, token string, response []byte, client netip.Addr) (customer string, err error) {
	if s.rp == nil {
		return "", errPasskeysOff
	}
	nt := "nt:" + resguardo.ThrottleNetwork(client)
	if _, err := s.claimAttempt(ctx, nt); err != nil {
		return "", err
	}
	defer func() {
		if err == nil || isFault(err) {
			// The passkey verified, or was never judged: no failed guess.
			s.unclaimAttempt(context.WithoutCancel(ctx), []string{nt})
		}
	}()
	ch, err := s.takeCeremony(ctx, token, pkSignIn, pkSignIn)
	if err != nil {
		return "", err
	}
	var customerID string
	var stored []storedPasskey
	lookup := func(handle, _ []byte) (passkey.User, error) {
		id, err := s.db.Conn().CustomerByPasskeyHandle(ctx, handle)
		if err != nil {
			return passkey.User{}, err
		}
		u, st, err := s.passkeyUser(ctx, id, false)
		customerID, stored = id, st
		return u, err
	}
	_, cred, err := s.rp.FinishLogin(nil, lookup, ch.SessionData, response)
	if err := s.passkeyVerdict(ctx, customerID, err); err != nil {
		return "", err
	}
	row, err := s.db.Conn().CustomerByID(ctx, customerID)
	if err != nil {
		return "", err
	}
	if row.Locked {
		return "", errLocked
	}
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := s.usePasskey(ctx, c, customerID, stored, cred); err != nil {
			return err
		}
		return s.audit.Append(ctx, c, event(resguardo.ActSignIn, customerID, resguardo.OutcomeSuccess, "passkey"))
	})
	if err == errReplay {
		return "", s.cloneSuspected(ctx, customerID)
	}
	return customerID, err
}

// BeginPasskeyMFA starts the second factor of a sign-in whose password
// was right (mfaToken, from StartMFA) with one of the customer's passkeys.
func (s *Service) BeginPasskeyMFA(ctx context.Context, mfaToken string) (PasskeyCeremony, error) {
	if s.rp == nil {
		return PasskeyCeremony{}, errPasskeysOff
	}
	customerID, err := s.db.Conn().MFAChallenge(ctx, auth.TokenHash(mfaToken), s.now().Unix())
	if err != nil {
		return PasskeyCeremony{}, errChallengeInvalid
	}
	u, _, err := s.passkeyUser(ctx, customerID, false)
	if resguardo.ErrorCode(err) == resguardo.ENotFound || (err == nil && len(u.Credentials) == 0) {
		return PasskeyCeremony{}, resguardo.Errorf(resguardo.EConflict, "This account has no passkey.")
	}
	if err != nil {
		return PasskeyCeremony{}, err
	}
	c, err := s.rp.BeginLogin(&u)
	if err != nil {
		return PasskeyCeremony{}, err
	}
	return s.beginCeremony(ctx, pkMFA, mfaBinding(mfaToken), customerID, c)
}

// FinishPasskeyMFA completes a sign-in's second factor with a passkey,
// consuming both the sign-in's challenge and the ceremony's.
func (s *Service) FinishPasskeyMFA(ctx context.Context, mfaToken, token string, response []byte) (string, error) {
	if s.rp == nil {
		return "", errPasskeysOff
	}
	hash := auth.TokenHash(mfaToken)
	customerID, err := s.db.Conn().MFAChallenge(ctx, hash, s.now().Unix())
	if err != nil {
		return "", errChallengeInvalid
	}
	ch, err := s.takeCeremony(ctx, token, pkMFA, mfaBinding(mfaToken))
	if err != nil {
		return "", err
	}
	if ch.CustomerID != customerID {
		return "", errPasskeyRefused
	}
	u, stored, err := s.passkeyUser(ctx, customerID, false)
	if err != nil {
		return "", err
	}
	_, cred, err := s.rp.FinishLogin(&u, nil, ch.SessionData, response)
	if err := s.passkeyVerdict(ctx, customerID, err); err != nil {
		return "", err
	}
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.UseMFAChallenge(ctx, hash, s.now().Unix()); err != nil {
			return errChallengeInvalid
		}
		if err := s.usePasskey(ctx, c, customerID, stored, cred); err != nil {
			return err
		}
		return s.audit.Append(ctx, c, event(resguardo.ActSignIn, customerID, resguardo.OutcomeSuccess, "passkey"))
	})
	if err == errReplay {
		return "", s.cloneSuspected(ctx, customerID)
	}
	return customerID, err
}

// BeginPasskeyReauth starts step-up with one of the principal's passkeys.
func (s *Service) BeginPasskeyReauth(ctx context.Context, p Principal) (PasskeyCeremony, error) {
	if s.rp == nil {
		return PasskeyCeremony{}, errPasskeysOff
	}
	u, _, err := s.passkeyUser(ctx, p.CustomerID, false)
	if resguardo.ErrorCode(err) == resguardo.ENotFound || (err == nil && len(u.Credentials) == 0) {
		return PasskeyCeremony{}, resguardo.Errorf(resguardo.EConflict, "This account has no passkey.")
	}
	if err != nil {
		return PasskeyCeremony{}, err
	}
	c, err := s.rp.BeginLogin(&u)
	if err != nil {
		return PasskeyCeremony{}, err
	}
	return s.beginCeremony(ctx, pkReauth, binding(p), p.CustomerID, c)
}

// FinishPasskeyReauth is step-up with a passkey: it marks the session or
// app sign-in as recently authenticated, and returns the new cookie token
// for a web session ("" for an app).
func (s *Service) FinishPasskeyReauth(ctx context.Context, p Principal, token string, response []byte) (string, error) {
	if s.rp == nil {
		return "", errPasskeysOff
	}
	ch, err := s.takeCeremony(ctx, token, pkReauth, binding(p))
	if err != nil {
		return "", err
	}
	u, stored, err := s.passkeyUser(ctx, p.CustomerID, false)
	if err != nil {
		return "", err
	}
	_, cred, err := s.rp.FinishLogin(&u, nil, ch.SessionData, response)
	if err := s.passkeyVerdict(ctx, p.CustomerID, err); err != nil {
		return "", err
	}
	var cookie string
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := s.usePasskey(ctx, c, p.CustomerID, stored, cred); err != nil {
			return err
		}
		var err error
		if cookie, err = s.markRecent(ctx, c, p); err != nil {
			return err
		}
		return s.audit.Append(ctx, c, event(resguardo.ActReauth, p.CustomerID, resguardo.OutcomeSuccess, "passkey"))
	})
	if err == errReplay {
		return "", s.cloneSuspected(ctx, p.CustomerID)
	}
	return cookie, err
}

// keyPasskeyChallenge counts passkey sign-in challenges per client
// network (policy in the throttles table).
const keyPasskeyChallenge = "pc:"

// errReplay is usePasskey's answer when the counter moved under it.
var errReplay = errors.New("passkey counter moved meanwhile")

// usePasskey advances the stored counter of the passkey used, from the
// value it was checked against, and audits the use (so the owner sees it).
// Two uses checked against the same value cannot both advance it.
func (s *Service) usePasskey(ctx context.Context, c sqlstore.Conn, customerID string, stored []storedPasskey, cred passkey.Credential) error {
	for _, st := range stored {
		if string(st.cred.ID) != string(cred.ID) {
			continue
		}
		ok, err := c.UsePasskey(ctx, customerID, st.row.ID, st.row.SignCount, cred.Authenticator.SignCount, s.now().Unix())
		if err != nil {
			return err
		}
		if !ok {
			return errReplay
		}
		return s.audit.Append(ctx, c, event(resguardo.ActPasskeyUsed, customerID, resguardo.OutcomeSuccess))
	}
	return errPasskeyRefused
}

// passkeyVerdict turns the relying party's verdict into the answer:
// nil when the passkey verified; a clone suspicion is audited (the owner
// sees it) and refused; any other refusal is audited against the
// customer when known, and answered with the one refusal.
func (s *Service) passkeyVerdict(ctx context.Context, customerID string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, passkey.ErrCloneSuspected):
		s.log.WarnContext(ctx, "passkey clone suspected", "customer", customerID)
		return s.cloneSuspected(ctx, customerID)
	case errors.Is(err, passkey.ErrRefused):
		s.log.InfoContext(ctx, "passkey refused", "customer", customerID, "err", err)
		return s.passkeyFailed(ctx, customerID)
	}
	return err
}

// passkeyFailed audits a refused passkey and returns the refusal.
func (s *Service) passkeyFailed(ctx context.Context, customerID string) error {
	if err := s.recordRefusal(ctx, customerID, resguardo.ActPasskeyFailed, ""); err != nil {
		return err
	}
	return errPasskeyRefused
}

// cloneSuspected audits a counter that did not advance and refuses.
func (s *Service) cloneSuspected(ctx context.Context, customerID string) error {
	if err := s.recordRefusal(ctx, customerID, resguardo.ActPasskeyCloneSuspected, ""); err != nil {
		return err
	}
	return errPasskeyRefused
}
