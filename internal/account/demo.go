package account

import (
	"context"
	"fmt"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/auth"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// DemoCustomer is a customer made by `serve --demo`.
type DemoCustomer struct {
	Email, Name, Password string
}

// CreateDemoCustomer adds a customer whose address counts as verified,
// for `serve --demo`: what registration and the verification link do,
// in one step, without mail and without the per-network sign-up bound
// (the demo makes several accounts from no network at all). The caller
// (app) runs it only on an empty database behind loopback listeners.
func (s *Service) CreateDemoCustomer(ctx context.Context, in DemoCustomer) (string, error) {
	email, err := resguardo.ParseEmail(in.Email)
	if err != nil {
		return "", err
	}
	name, err := resguardo.CleanText("name", in.Name, 1, 200)
	if err != nil {
		return "", err
	}
	if err := auth.CheckPassword(in.Password); err != nil {
		return "", err
	}
	index, err := s.vault.BlindIndex(indexEmail, string(email))
	if err != nil {
		return "", err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return "", err
	}
	id := newID()
	wrapped, err := s.vault.NewDataKey(id)
	if err != nil {
		return "", err
	}
	row := sqlstore.CustomerRow{ID: id, DataKey: wrapped, EmailIndex: index, PasswordHash: hash}
	dk, err := s.dataKey(row)
	if err != nil {
		return "", err
	}
	if row.EmailSealed, err = dk.Seal([]byte(email), cEmail.Table, cEmail.Column, id); err != nil {
		return "", err
	}
	if row.NameSealed, err = dk.Seal([]byte(name), cName.Table, cName.Column, id); err != nil {
		return "", err
	}
	row.CreatedAt = s.now().Unix()
	row.UpdatedAt = row.CreatedAt
	err = s.db.Tx(ctx, func(c sqlstore.Conn) error {
		if err := c.InsertCustomer(ctx, row); err != nil {
			return err
		}
		if err := c.MarkEmailVerified(ctx, id, index, row.CreatedAt); err != nil {
			return err
		}
		ev := resguardo.AuditEvent{ActorKind: resguardo.ActorSystem, Action: resguardo.ActSignUp,
			TargetKind: resguardo.TargetCustomer, TargetID: id, Outcome: resguardo.OutcomeSuccess, Fields: []string{"demo"}}
		return s.audit.Append(ctx, c, ev)
	})
	if err != nil {
		return "", fmt.Errorf("demo customer: %w", err)
	}
	return id, nil
}

// EnableDemoTOTP turns two-step verification on for a demo customer and
// returns its secret and otpauth URI. It confirms with the code of the
// step before now, as an owner who typed it a moment ago would have, so
// that the code an app shows now is accepted at the next sign-in.
func (s *Service) EnableDemoTOTP(ctx context.Context, customerID, lang string) (TOTPEnrolment, error) {
	p := Principal{CustomerID: customerID}
	en, err := s.BeginTOTP(ctx, p)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	code, err := auth.TOTPCode(en.Secret, s.now().Add(-auth.TOTPPeriod))
	if err != nil {
		return TOTPEnrolment{}, err
	}
	if _, err := s.ConfirmTOTP(ctx, p, code, lang); err != nil {
		return TOTPEnrolment{}, fmt.Errorf("demo second factor: %w", err)
	}
	return en, nil
}
