// Package passkey is resguardo's WebAuthn relying party, over
// github.com/go-webauthn/webauthn: one RP per listener, its id and origin
// derived from that listener's public origin, so a passkey made for the
// customer site is refused on the staff console and the other way round.
// It keeps no state: the ceremony's session data goes to the caller to
// store server-side (single use, short-lived), and credentials go to the
// caller to seal and store.
package passkey

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Timeout is how long a ceremony may take, from its options to its answer;
// the challenge expires with it.
const Timeout = 5 * time.Minute

// HandleLen is the length of a random user handle.
const HandleLen = 32

// ErrRefused is the one answer to an assertion or attestation that does
// not verify: the library's detail is wrapped for the log, never shown.
var ErrRefused = errors.New("passkey refused")

// ErrCloneSuspected means a verified assertion carried a signature counter
// not above the stored one: two copies of the private key may exist.
var ErrCloneSuspected = errors.New("passkey signature counter did not advance: clone suspected")

// RP is the relying party of one listener.
type RP struct {
	w      *webauthn.WebAuthn
	origin string
}

// New makes the relying party for the listener whose public origin is
// origin (scheme://host[:port]): its RP id is the host name, and the only
// origin it accepts is exactly origin.
func New(origin, displayName string) (*RP, error) {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("passkey: %q is not an origin", origin)
	}
	o := u.Scheme + "://" + u.Host
	w, err := webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: displayName,
		RPOrigins:     []string{o},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: Timeout, TimeoutUVD: Timeout},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: Timeout, TimeoutUVD: Timeout},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey relying party for %s: %w", o, err)
	}
	return &RP{w: w, origin: o}, nil
}

// ID is the relying party id (the host name).
func (rp *RP) ID() string { return rp.w.Config.RPID }

// Origin is the one origin this relying party accepts.
func (rp *RP) Origin() string { return rp.origin }

// NewHandle returns a random user handle.
func NewHandle() []byte {
	h := make([]byte, HandleLen)
	_, _ = rand.Read(h) // crypto/rand.Read never fails
	return h
}

// User is an account as the relying party sees it: a random handle, the
// name shown by the authenticator, and its credentials.
type User struct {
	Handle      []byte
	Name        string
	Credentials []webauthn.Credential
}

func (u User) WebAuthnID() []byte                         { return u.Handle }
func (u User) WebAuthnName() string                       { return u.Name }
func (u User) WebAuthnDisplayName() string                { return u.Name }
func (u User) WebAuthnCredentials() []webauthn.Credential { return u.Credentials }

// Credential is a verified credential record, to be sealed and stored.
type Credential = webauthn.Credential

// Ceremony is what a begun ceremony hands out: the options for the
// browser (navigator.credentials.create/get, as JSON) and the session data
// the caller stores server-side until the answer comes.
type Ceremony struct {
	Options json.RawMessage
	Session []byte
}

func ceremony(options any, session *webauthn.SessionData) (Ceremony, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return Ceremony{}, fmt.Errorf("passkey options: %w", err)
	}
	s, err := json.Marshal(session)
	if err != nil {
		return Ceremony{}, fmt.Errorf("passkey session: %w", err)
	}
	return Ceremony{Options: o, Session: s}, nil
}

func session(b []byte) (webauthn.SessionData, error) {
	var s webauthn.SessionData
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("passkey session: %w", err)
	}
	return s, nil
}

// BeginRegistration starts adding a passkey to u: a discoverable
// credential (so it can sign in alone), not one u has already.
func (rp *RP) BeginRegistration(u User) (Ceremony, error) {
	creation, s, err := rp.w.BeginRegistration(u,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExclusions(webauthn.Credentials(u.Credentials).CredentialDescriptors()),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
	)
	if err != nil {
		return Ceremony{}, fmt.Errorf("begin passkey registration: %w", err)
	}
	return ceremony(creation, s)
}

// FinishRegistration verifies the browser's answer (JSON of the
// PublicKeyCredential) to a registration begun for u with session.
func (rp *RP) FinishRegistration(u User, sessionData, response []byte) (Credential, error) {
	s, err := session(sessionData)
	if err != nil {
		return Credential{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Credential{}, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	c, err := rp.w.CreateCredential(u, s, parsed)
	if err != nil {
		return Credential{}, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return *c, nil
}

// BeginLogin starts an assertion: for u's credentials (a second factor or
// step-up), or, with u nil, for any discoverable credential of this relying
// party (sign-in with a passkey alone, which then must verify the user).
func (rp *RP) BeginLogin(u *User) (Ceremony, error) {
	var (
		assertion *protocol.CredentialAssertion
		s         *webauthn.SessionData
		err       error
	)
	if u == nil {
		assertion, s, err = rp.w.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	} else {
		assertion, s, err = rp.w.BeginLogin(*u, webauthn.WithUserVerification(protocol.VerificationPreferred))
	}
	if err != nil {
		return Ceremony{}, fmt.Errorf("begin passkey assertion: %w", err)
	}
	return ceremony(assertion, s)
}

// Lookup finds the account a discoverable credential names by its user
// handle; the credential id is given so that it can be checked as well.
type Lookup func(handle, credentialID []byte) (User, error)

// FinishLogin verifies an assertion (JSON of the PublicKeyCredential)
// against a ceremony begun with BeginLogin. For a discoverable ceremony
// the account comes from lookup; otherwise u is the account it was begun
// for. It returns the account and the credential used, with its counter
// advanced; ErrCloneSuspected (with both) when the counter went backwards
// or stood still.
func (rp *RP) FinishLogin(u *User, lookup Lookup, sessionData, response []byte) (User, Credential, error) {
	s, err := session(sessionData)
	if err != nil {
		return User{}, Credential{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return User{}, Credential{}, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	var (
		who  User
		cred *webauthn.Credential
	)
	if u == nil {
		var found webauthn.User
		found, cred, err = rp.w.ValidatePasskeyLogin(func(rawID, handle []byte) (webauthn.User, error) {
			return lookup(handle, rawID)
		}, s, parsed)
		if err == nil {
			who = found.(User)
		}
	} else {
		who = *u
		cred, err = rp.w.ValidateLogin(*u, s, parsed)
	}
	if err != nil {
		return User{}, Credential{}, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if !knows(who, cred.ID) {
		return User{}, Credential{}, fmt.Errorf("%w: credential not the account's", ErrRefused)
	}
	// The library only flags a counter that did not advance; refusing it
	// is this relying party's choice (an authenticator that keeps no
	// counter sends 0 every time, which passes).
	if cred.Authenticator.CloneWarning {
		return who, *cred, ErrCloneSuspected
	}
	return who, *cred, nil
}

func knows(u User, id []byte) bool {
	for _, c := range u.Credentials {
		if bytes.Equal(c.ID, id) {
			return true
		}
	}
	return false
}
