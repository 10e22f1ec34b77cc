package staff

import (
	"context"
	"strings"
	"unicode"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/audit"
	"github.com/resguardo/resguardo/internal/sqlstore"
)

// AuditFilter narrows a browse of the audit trail: an action prefix
// ("staff." or a whole action name), an actor id, a target id, and an
// entry number cursor (entries before it; 0 from the newest). Limit is 1 to
// MaxAuditPage (0: DefaultAuditPage).
type AuditFilter struct {
	Action   string
	ActorID  string
	TargetID string
	Before   int64
	Limit    int
}

// Page sizes of the audit browser.
const (
	DefaultAuditPage = 50
	MaxAuditPage     = 100
)

// auditTermMax bounds each filter term: action names and ids are short.
const auditTermMax = 64

func badAuditFilter(field, detail string) error {
	return &resguardo.Error{Code: resguardo.EInvalid, Message: "The filter is not valid.",
		Fields: []resguardo.FieldProblem{{Field: field, Detail: detail}}}
}

// auditTerm trims a filter term and accepts only what action names and ids
// are made of: letters, digits, '.', '_', '-' and ':'.
func auditTerm(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > auditTermMax {
		return "", badAuditFilter(field, "must be at most 64 characters")
	}
	if strings.ContainsFunc(s, func(r rune) bool {
		return r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-:", r))
	}) {
		return "", badAuditFilter(field, "may hold only letters, digits and . _ - :")
	}
	return s, nil
}

// AuditEntries lists audit entries, newest first, for those who may read
// the trail (administrators and auditors).
func (s *Service) AuditEntries(ctx context.Context, p Principal, f AuditFilter) ([]resguardo.AuditEvent, error) {
	if err := s.require(p, OpAuditRead); err != nil {
		return nil, err
	}
	switch {
	case f.Limit == 0:
		f.Limit = DefaultAuditPage
	case f.Limit < 0 || f.Limit > MaxAuditPage:
		return nil, badAuditFilter("limit", "must be 1 to 100")
	}
	if f.Before < 0 {
		return nil, badAuditFilter("before", "must be a positive entry number")
	}
	var err error
	q := sqlstore.AuditFilter{Before: f.Before, Limit: f.Limit}
	if q.ActionPrefix, err = auditTerm("action", f.Action); err != nil {
		return nil, err
	}
	if q.ActorID, err = auditTerm("actor", f.ActorID); err != nil {
		return nil, err
	}
	if q.TargetID, err = auditTerm("target", f.TargetID); err != nil {
		return nil, err
	}
	rows, err := s.db.Conn().BrowseAudit(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]resguardo.AuditEvent, len(rows))
	for i, r := range rows {
		out[i] = r.AuditEvent
	}
	return out, nil
}

// VerifyTrail checks the whole chain as `resguardo audit verify` does and
// returns its report (administrators and auditors).
func (s *Service) VerifyTrail(ctx context.Context, p Principal) (audit.Report, error) {
	if err := s.require(p, OpAuditVerify); err != nil {
		return audit.Report{}, err
	}
	return s.audit.Verify(ctx, nil)
}
