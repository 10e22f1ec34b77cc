package sqlstore

import (
	"context"
	"fmt"
	"strings"
)

// AuditFilter narrows a browse of the audit trail. Empty strings match
// everything; Before 0 starts at the newest entry.
type AuditFilter struct {
	ActionPrefix string // e.g. "staff." or "staff.customer_revealed"
	ActorID      string
	TargetID     string
	Before       int64 // only entries with id < Before
	Limit        int
}

// likeEscaper escapes LIKE's wildcards (and the escape character itself)
// so that an action prefix matches literally.
var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

// BrowseAudit lists audit entries, newest first, matching every non-empty
// filter. The SQL text is one constant: each optional filter is an
// empty-string test OR'd with its condition, and its value only ever
// travels as an argument.
func (c Conn) BrowseAudit(ctx context.Context, f AuditFilter) ([]AuditRow, error) {
	before := f.Before
	if before <= 0 {
		before = 1<<62 - 1
	}
	prefix := likeEscaper.Replace(f.ActionPrefix) + "%"
	rows, err := c.query(ctx, `SELECT `+auditColumns+` FROM audit_log
		WHERE id < ?
		AND (? = '' OR action LIKE ? ESCAPE '!')
		AND (? = '' OR actor_id = ?)
		AND (? = '' OR target_id = ?)
		ORDER BY id DESC LIMIT ?`,
		before, f.ActionPrefix, prefix, f.ActorID, f.ActorID, f.TargetID, f.TargetID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("browse audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditRow
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
