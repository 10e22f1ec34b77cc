package staff

import (
	"context"
	"net/url"

	"github.com/resguardo/resguardo/internal/auth"
)

// PendingEnrolment returns the TOTP secret that EnrolPassword made for a
// live enrolment link, with its QR code (PNG): the enrolment page shows
// the secret as text and serves the QR code as an image of its own, and
// shows both again after a wrong first code.
func (s *Service) PendingEnrolment(ctx context.Context, token string) (Enrolment, error) {
	row, err := s.db.Conn().StaffByEnrolLink(ctx, auth.TokenHash(token), s.now().Unix())
	if err != nil || row.TOTPSealed == nil {
		return Enrolment{}, errBadLink
	}
	secret, err := s.openTOTP(row)
	if err != nil {
		return Enrolment{}, err
	}
	const issuer = "resguardo staff"
	uri := (&url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + row.Email,
		RawQuery: url.Values{"secret": {secret}, "issuer": {issuer}, "period": {"30"}, "digits": {"6"}, "algorithm": {"SHA1"}}.Encode()}).String()
	qr, err := auth.QRPNG(uri)
	if err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: secret, URI: uri, QRPNG: qr}, nil
}
