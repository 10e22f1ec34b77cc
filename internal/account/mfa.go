package account

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/mail"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// mfaChallengeTTL is how long a sign-in waits for its second factor.
const mfaChallengeTTL = 5 * time.Minute

var errCodeWrong = &resguardo.Error{Code: resguardo.EInvalid, Message: "The code is not correct.",
	Fields: []resguardo.FieldProblem{{Field: "code", Detail: "is not correct"}}}

var errChallengeInvalid = resguardo.Errorf(resguardo.EUnauthenticated, "The sign-in has expired. Sign in again.")

// totpEnabled reports whether the customer has a confirmed second factor.
func (s *Service) totpEnabled(ctx context.Context, c sqlstore.Conn, customerID string) (bool, error) {
	t, err := c.TOTP(ctx, customerID)
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		return false, nil
	}
	return err == nil && t.Enabled, err
}

// StartMFA issues the short-lived, single-use challenge that stands for "the
// password was right" until the second factor is given. Nothing else is
// issued before that.
func (s *Service) StartMFA(ctx context.Context, customerID string) (string, error) {
	token, hash := auth.NewToken()
	if err := s.db.Conn().InsertMFAChallenge(ctx, hash, customerID, s.now().Add(mfaChallengeTTL).Unix()); err != nil {
		return "", err
	}
	return token, nil
}

// CompleteMFA checks the second factor (a TOTP code, or a recovery code)
// for a challenge and consumes both; wrong codes are throttled like
// passwords.
func (s *Service) CompleteMFA(ctx context.Context, challenge, code string) (string, error) {
	hash := auth.TokenHash(challenge)
	customerID, err := s.db.Conn().MFAChallenge(ctx, hash, s.now().Unix())
	if err != nil {
		return "", errChallengeInvalid
	}
	keys := codeThrottleKeys(ctx, customerID)
	if _, err := s.claimAttempt(ctx, keys...); err != nil {
		return "", err
	}
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := s.checkSecondFactor(ctx, c, customerID, code); err != nil {
			return err
		}
		if err := c.UseMFAChallenge(ctx, hash, s.now().Unix()); err != nil {
			return errChallengeInvalid
		}
		if err := clearThrottles(ctx, c, keys); err != nil {
			return err
		}
		return s.audit.Append(ctx, c, event(resguardo.ActSignIn, customerID, resguardo.OutcomeSuccess))
	})
	if err == errCodeWrong {
		return customerID, s.recordFailedCode(ctx, customerID)
	}
	return customerID, s.UnclaimOnFault(ctx, err, keys...)
}

// codeThrottleKeys names what a second-factor attempt counts against: the
// account from this client's network (tight), and the account alone
// (looser, so guessing from many networks still meets a ceiling). Only
// someone who already has the password or a session can make attempts, so
// the account-wide limit cannot be used by strangers to keep the owner out.
func codeThrottleKeys(ctx context.Context, customerID string) []string {
	return []string{"mf:" + customerID + "/" + audit.MetaFrom(ctx).Network, "mc:" + customerID}
}

func clearThrottles(ctx context.Context, c sqlstore.Conn, keys []string) error {
	for _, k := range keys {
		if err := c.ClearThrottle(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// recordFailedCode audits a wrong code and returns the error to answer:
// errCodeWrong, or the failure to record it (the request then fails; the
// attempt stays counted, as the code was wrong).
func (s *Service) recordFailedCode(ctx context.Context, customerID string) error {
	if err := s.audit.Record(ctx, anonymous(resguardo.ActMFAFailed, customerID, resguardo.OutcomeFailure)); err != nil {
		return fmt.Errorf("audit %s: %w", resguardo.ActMFAFailed, err)
	}
	return errCodeWrong
}

// checkSecondFactor accepts a TOTP code not used before, or an unused
// recovery code (then consumed and audited), inside the caller's
// transaction.
func (s *Service) checkSecondFactor(ctx context.Context, c sqlstore.Conn, customerID, code string) error {
	t, err := c.TOTP(ctx, customerID)
	if err != nil || !t.Enabled {
		// With passkeys but no TOTP, the recovery codes still stand in
		// for the second factor.
		if has, perr := s.hasPasskeys(ctx, c, customerID); perr != nil || !has {
			return errCodeWrong
		}
		return s.recoveryOnly(ctx, c, customerID, code)
	}
	dk, err := s.customerKey(ctx, customerID)
	if err != nil {
		return err
	}
	secret, err := s.openString(dk, t.SecretSealed, cTOTP.Table, cTOTP.Column, customerID)
	if err != nil {
		return err
	}
	if step, ok := auth.TOTPStep(secret, code, s.now(), t.LastStep); ok {
		fresh, err := c.UseTOTPStep(ctx, customerID, step)
		if err != nil {
			return err
		}
		if fresh {
			return nil
		}
		return errCodeWrong // used meanwhile by a concurrent request
	}
	return s.recoveryOnly(ctx, c, customerID, code)
}

// recoveryOnly accepts an unused recovery code (then consumed and
// audited).
func (s *Service) recoveryOnly(ctx context.Context, c sqlstore.Conn, customerID, code string) error {
	used, err := s.useRecoveryCode(ctx, c, customerID, code)
	if err != nil {
		return err
	}
	if !used {
		return errCodeWrong
	}
	return s.audit.Append(ctx, c, event(resguardo.ActRecoveryUsed, customerID, resguardo.OutcomeSuccess))
}

// useRecoveryCode consumes an unused recovery code of the customer, once:
// stored as a MAC under any pepper key (the primary first), or, until the
// conversion at start reaches it, in the old unkeyed form.
func (s *Service) useRecoveryCode(ctx context.Context, c sqlstore.Conn, customerID, code string) (bool, error) {
	digest := auth.RecoveryCodeDigest(code)
	macs, err := s.vault.RecoveryMACs(customerID, digest)
	if err != nil {
		return false, err
	}
	now := s.now().Unix()
	for _, m := range macs {
		if used, err := c.UseRecoveryCode(ctx, customerID, m.KeyID, m.MAC, now); err != nil || used {
			return used, err
		}
	}
	return c.UseLegacyRecoveryCode(ctx, customerID, digest, now)
}

// newRecoveryCodes makes a fresh set of codes to show once, and their MACs
// under the primary pepper key to store.
func (s *Service) newRecoveryCodes(customerID string) (codes []string, keyID uint32, macs [][]byte, err error) {
	codes, digests := auth.NewRecoveryCodes(auth.RecoveryCodes)
	for _, d := range digests {
		m, err := s.vault.RecoveryMAC(customerID, d)
		if err != nil {
			return nil, 0, nil, err
		}
		keyID = m.KeyID
		macs = append(macs, m.MAC)
	}
	return codes, keyID, macs, nil
}

// recoveryKeyBatch is how many codes of the old form one transaction
// converts.
const recoveryKeyBatch = 500

// KeyLegacyRecoveryCodes converts every recovery code still stored in the
// old unkeyed form (a bare SHA-256 digest) to its MAC under the primary
// pepper key, in batches, and reports how many it converted. The MAC is
// taken over the old digest, so no code needs to be known; codes keep
// working throughout (the old form is still recognised until converted).
// Safe to run on several servers at once: a code converted by another is
// skipped.
func (s *Service) KeyLegacyRecoveryCodes(ctx context.Context) (int, error) {
	total := 0
	for {
		rows, err := s.db.Conn().LegacyRecoveryCodes(ctx, recoveryKeyBatch)
		if err != nil || len(rows) == 0 {
			return total, err
		}
		err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
			for _, r := range rows {
				m, err := s.vault.RecoveryMAC(r.CustomerID, r.Digest)
				if err != nil {
					return err
				}
				if err := c.KeyRecoveryCode(ctx, r.CustomerID, r.Digest, m.KeyID, m.MAC); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += len(rows)
	}
}

// TOTPEnrolment is what a customer needs to add the secret to an app.
type TOTPEnrolment = auth.TOTPEnrolment

// BeginTOTP makes a new pending secret (replacing a pending one); it does
// nothing until confirmed with a code.
func (s *Service) BeginTOTP(ctx context.Context, p Principal) (TOTPEnrolment, error) {
	c, err := s.Profile(ctx, p.CustomerID)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	if c.TOTPEnabled {
		return TOTPEnrolment{}, sqlstore.ErrTOTPEnabled
	}
	en, err := auth.NewTOTP("resguardo", string(c.Email))
	if err != nil {
		return TOTPEnrolment{}, err
	}
	dk, err := s.customerKey(ctx, p.CustomerID)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	sealed, err := dk.Seal([]byte(en.Secret), cTOTP.Table, cTOTP.Column, p.CustomerID)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	err = s.change(ctx, resguardo.CustomerActor(p.CustomerID), p.CustomerID, resguardo.ActTOTPEnrolment, nil, func(c sqlstore.Conn) error {
		return c.PutPendingTOTP(ctx, sqlstore.TOTPRow{CustomerID: p.CustomerID, SecretSealed: sealed, CreatedAt: s.now().Unix()})
	})
	return en, err
}

// ConfirmTOTP turns the pending secret on with a first code, and returns
// ten recovery codes to show once. Every other session and app sign-in
// ends, and the customer is told by mail.
func (s *Service) ConfirmTOTP(ctx context.Context, p Principal, code, lang string) ([]string, error) {
	t, err := s.db.Conn().TOTP(ctx, p.CustomerID)
	if err != nil || t.Enabled {
		return nil, resguardo.Errorf(resguardo.EConflict, "There is no two-step verification set-up to confirm.")
	}
	dk, err := s.customerKey(ctx, p.CustomerID)
	if err != nil {
		return nil, err
	}
	secret, err := s.openString(dk, t.SecretSealed, cTOTP.Table, cTOTP.Column, p.CustomerID)
	if err != nil {
		return nil, err
	}
	step, ok := auth.TOTPStep(secret, code, s.now(), 0)
	if !ok {
		return nil, errCodeWrong
	}
	codes, keyID, macs, err := s.newRecoveryCodes(p.CustomerID)
	if err != nil {
		return nil, err
	}
	err = s.secondFactorChanged(ctx, resguardo.CustomerActor(p.CustomerID), p, lang, resguardo.ActTOTPEnabled, func(c sqlstore.Conn) error {
		if err := c.EnableTOTP(ctx, p.CustomerID, t.SecretSealed, step); err != nil {
			return err
		}
		return c.ReplaceRecoveryCodes(ctx, p.CustomerID, keyID, macs)
	})
	return codes, err
}

// RemoveTOTP turns the second factor off, given a current code or a
// recovery code (the route also demands recent authentication).
func (s *Service) RemoveTOTP(ctx context.Context, p Principal, code, lang string) error {
	keys := codeThrottleKeys(ctx, p.CustomerID)
	if _, err := s.claimAttempt(ctx, keys...); err != nil {
		return err
	}
	err := s.secondFactorChanged(ctx, resguardo.CustomerActor(p.CustomerID), p, lang, resguardo.ActTOTPRemoved, func(c sqlstore.Conn) error {
		if err := s.checkSecondFactor(ctx, c, p.CustomerID, code); err != nil {
			return err
		}
		if err := clearThrottles(ctx, c, keys); err != nil {
			return err
		}
		return c.DeleteTOTP(ctx, p.CustomerID)
	})
	if err == errCodeWrong {
		return s.recordFailedCode(ctx, p.CustomerID)
	}
	return s.UnclaimOnFault(ctx, err, keys...)
}

// RenewRecoveryCodes replaces the recovery codes (recent authentication).
func (s *Service) RenewRecoveryCodes(ctx context.Context, p Principal) ([]string, error) {
	codes, keyID, macs, err := s.newRecoveryCodes(p.CustomerID)
	if err != nil {
		return nil, err
	}
	err = s.change(ctx, resguardo.CustomerActor(p.CustomerID), p.CustomerID, resguardo.ActRecoveryRenewed, nil, func(c sqlstore.Conn) error {
		// Recovery codes stand in for a second factor: TOTP or a passkey.
		on, err := s.totpEnabled(ctx, c, p.CustomerID)
		if err != nil {
			return err
		}
		if !on {
			n, err := c.CountPasskeys(ctx, p.CustomerID)
			if err != nil {
				return err
			}
			on = n > 0
		}
		if !on {
			return resguardo.Errorf(resguardo.EConflict, "Two-step verification is off.")
		}
		return c.ReplaceRecoveryCodes(ctx, p.CustomerID, keyID, macs)
	})
	return codes, err
}

// secondFactorChanged runs a change of the second factor with its audit
// entry, ends the other sessions, and mails the owner, in one transaction.
func (s *Service) secondFactorChanged(ctx context.Context, by resguardo.Actor, p Principal, lang, action string, fn func(sqlstore.Conn) error) error {
	return s.secondFactorChange(ctx, by, p, lang, action, "totp", fn)
}

// secondFactorChange is secondFactorChanged for the factor named field
// (totp, passkey) in the audit entry.
func (s *Service) secondFactorChange(ctx context.Context, by resguardo.Actor, p Principal, lang, action, field string, fn func(sqlstore.Conn) error) error {
	row, err := s.db.Conn().CustomerByID(ctx, p.CustomerID)
	if err != nil {
		return err
	}
	dk, err := s.dataKey(row)
	if err != nil {
		return err
	}
	email, err := s.openString(dk, row.EmailSealed, cEmail.Table, cEmail.Column, row.ID)
	if err != nil {
		return err
	}
	m, err := compose(mail.KindTwoFactor, lang, resguardo.Email(email), mail.Data{Link: s.o.BaseURL + "/password/forgot"})
	if err != nil {
		return err
	}
	return s.change(ctx, by, p.CustomerID, action, []string{field}, func(c sqlstore.Conn) error {
		if err := fn(c); err != nil {
			return err
		}
		if err := revokeOthers(ctx, c, p); err != nil {
			return err
		}
		return s.queueMail(ctx, c, row.ID, dk, m)
	})
}

// ReauthenticateCode is step-up with the second factor instead of the
// password.
func (s *Service) ReauthenticateCode(ctx context.Context, p Principal, code string) (string, error) {
	keys := codeThrottleKeys(ctx, p.CustomerID)
	if _, err := s.claimAttempt(ctx, keys...); err != nil {
		return "", err
	}
	var token string
	err := s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := s.checkSecondFactor(ctx, c, p.CustomerID, code); err != nil {
			return err
		}
		if err := clearThrottles(ctx, c, keys); err != nil {
			return err
		}
		var err error
		if token, err = s.markRecent(ctx, c, p); err != nil {
			return err
		}
		return s.audit.Append(ctx, c, event(resguardo.ActReauth, p.CustomerID, resguardo.OutcomeSuccess))
	})
	if err == errCodeWrong {
		return "", s.recordFailedCode(ctx, p.CustomerID)
	}
	return token, s.UnclaimOnFault(ctx, err, keys...)
}

// PendingTOTP returns the enrolment of a secret not yet confirmed (to show
// its QR code again).
func (s *Service) PendingTOTP(ctx context.Context, p Principal) (TOTPEnrolment, error) {
	t, err := s.db.Conn().TOTP(ctx, p.CustomerID)
	if err != nil || t.Enabled {
		return TOTPEnrolment{}, resguardo.Errorf(resguardo.ENotFound, "There is no two-step verification set-up in progress.")
	}
	c, err := s.Profile(ctx, p.CustomerID)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	dk, err := s.customerKey(ctx, p.CustomerID)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	secret, err := s.openString(dk, t.SecretSealed, cTOTP.Table, cTOTP.Column, p.CustomerID)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	uri := (&url.URL{Scheme: "otpauth", Host: "totp", Path: "/resguardo:" + string(c.Email),
		RawQuery: url.Values{"secret": {secret}, "issuer": {"resguardo"}, "period": {"30"}, "digits": {"6"}, "algorithm": {"SHA1"}}.Encode()}).String()
	qr, err := auth.QRPNG(uri)
	return TOTPEnrolment{Secret: secret, URI: uri, QRPNG: qr}, err
}

// ResetSecondFactor turns a customer's TOTP off (a lead, after checking the
// caller's identity by other means): every session and app sign-in ends and
// the customer is told by mail.
func (s *Service) ResetSecondFactor(ctx context.Context, by resguardo.Actor, customerID, lang string) error {
	return s.secondFactorChanged(ctx, by, Principal{CustomerID: customerID}, lang, resguardo.ActCustomerMFAReset, func(c sqlstore.Conn) error {
		// Passkeys are second factors too: a reset removes them with TOTP
		// and the recovery codes; not found only when there was neither.
		n, err := c.DeleteCustomerPasskeys(ctx, customerID)
		if err != nil {
			return err
		}
		err = c.DeleteTOTP(ctx, customerID)
		if n > 0 && resguardo.ErrorCode(err) == resguardo.ENotFound {
			return nil // DeleteTOTP removed the recovery codes first
		}
		return err
	})
}

// errLocked is the answer to the right password of a locked account: only
// someone who knows the password learns that the account is locked.
var errLocked = resguardo.Errorf(resguardo.EForbidden, "This account is locked. Contact customer support.")
