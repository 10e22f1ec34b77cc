package server

import (
	"net/http"
	"strconv"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	"github.com/resguardo/resguardo/internal/audit"
	staffsvc "github.com/resguardo/resguardo/internal/staff"
)

// The console's back-office pages: four-eyes approvals, the audit trail,
// and the team.

type staffApprovalsView struct {
	layout
	Flash  string
	Items  []staffsvc.Approval
	Erased *account.Erasure
	Names  map[string]staffsvc.StaffName // who asked, by id
}

var staffApprovalFlashes = map[string]string{
	"requested": "staff.flash.requested", "approved": "staff.flash.approved", "refused": "staff.flash.refused",
}

func (s *Server) renderStaffApprovals(w http.ResponseWriter, r *http.Request, status int, f form, erased *account.Erasure) error {
	items, err := s.staffSvc.Approvals(r.Context(), staffPrincipal(r))
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(items))
	for _, it := range items {
		ids = append(ids, it.RequestedBy)
	}
	names, err := s.staffSvc.Names(r.Context(), staffPrincipal(r), ids)
	if err != nil {
		return err
	}
	l := s.layoutFor(r, "staff.approvals.title")
	l.Form = f
	return s.render(w, r, status, pageStaffApprovals, staffApprovalsView{layout: l, Flash: staffApprovalFlashes[r.URL.Query().Get("done")],
		Items: items, Erased: erased, Names: names})
}

func (s *Server) handleStaffApprovals() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.renderStaffApprovals(w, r, http.StatusOK, form{}, nil)
	}
}

// handleStaffDecide approves or refuses someone else's request. An approved
// erasure runs at once and the page says so; approving one's own request
// is refused (403) with the reason on the page.
func (s *Server) handleStaffDecide(approve bool) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if approve {
			if shown, err := s.confirmErasure(w, r); shown || err != nil {
				return err
			}
		}
		erased, err := s.staffSvc.Decide(r.Context(), staffPrincipal(r), r.PathValue("id"), approve)
		switch code := resguardo.ErrorCode(err); {
		case code == resguardo.EForbidden && s.ownRequest(r, r.PathValue("id")):
			return s.renderStaffApprovals(w, r, http.StatusForbidden, form{Errors: []formError{{Key: "staff.approvals.own"}}}, nil)
		case code == resguardo.EConflict:
			return s.renderStaffApprovals(w, r, http.StatusConflict, form{Errors: []formError{{Key: "staff.approvals.not_pending"}}}, nil)
		case err != nil:
			return err
		}
		if erased != nil {
			return s.renderStaffApprovals(w, r, http.StatusOK, form{}, erased)
		}
		done := "refused"
		if approve {
			done = "approved"
		}
		http.Redirect(w, r, "/approvals?done="+done, http.StatusSeeOther)
		return nil
	}
}

// ownRequest reports whether request id is one the signed-in staff member
// asked for, to say why they cannot decide it.
func (s *Server) ownRequest(r *http.Request, id string) bool {
	items, err := s.staffSvc.Approvals(r.Context(), staffPrincipal(r))
	if err != nil {
		return false
	}
	for _, it := range items {
		if it.ID == id {
			return it.Mine
		}
	}
	return false
}

// handleStaffExportDownload gives the requester of an approved export the
// customer's data as a JSON download, once. It is a POST: it uses up the
// approval.
func (s *Server) handleStaffExportDownload() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		e, err := s.staffSvc.CarryOutExport(r.Context(), staffPrincipal(r), r.PathValue("id"))
		if resguardo.ErrorCode(err) == resguardo.EConflict {
			return s.renderStaffApprovals(w, r, http.StatusConflict, form{Errors: []formError{{Key: "staff.approvals.not_approved"}}}, nil)
		}
		if err != nil {
			return err
		}
		w.Header().Set("Content-Disposition", `attachment; filename="resguardo-export-`+e.Profile.ID+`.json"`)
		w.Header().Set("Cache-Control", "no-store")
		return writeJSON(w, http.StatusOK, toExportDoc(e))
	}
}

type staffAuditView struct {
	layout
	Entries    []resguardo.AuditEvent
	Filter     staffsvc.AuditFilter
	NextBefore int64
	Report     *audit.Report
	Names      map[string]staffsvc.StaffName // staff actors, by id
}

// auditPage is how many entries the audit page shows at a time.
const auditPage = staffsvc.DefaultAuditPage

// renderStaffAudit shows one page of the trail under a filter, and the
// verification report when there is one.
func (s *Server) renderStaffAudit(w http.ResponseWriter, r *http.Request, f staffsvc.AuditFilter, report *audit.Report) error {
	l := s.layoutFor(r, "staff.audit.title")
	status := http.StatusOK
	f.Limit = auditPage + 1
	entries, err := s.staffSvc.AuditEntries(r.Context(), staffPrincipal(r), f)
	if err != nil {
		keys, st, ok := staffFormFailure(err)
		if !ok {
			return err
		}
		l.Form, status = form{Errors: keys, Prefix: "f-"}, st
	}
	v := staffAuditView{layout: l, Entries: entries, Filter: f, Report: report}
	if len(entries) > auditPage {
		v.Entries, v.NextBefore = entries[:auditPage], entries[auditPage-1].ID
	}
	var ids []string
	for _, e := range v.Entries {
		if e.ActorKind == resguardo.ActorStaff {
			ids = append(ids, e.ActorID)
		}
		if e.TargetKind == resguardo.TargetStaff {
			ids = append(ids, e.TargetID)
		}
	}
	if v.Names, err = s.staffSvc.Names(r.Context(), staffPrincipal(r), ids); err != nil {
		return err
	}
	return s.render(w, r, status, pageStaffAudit, v)
}

func (s *Server) handleStaffAudit() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.renderStaffAudit(w, r, staffsvc.AuditFilter{}, nil)
	}
}

// handleStaffAuditFilter narrows the trail (a POST like the customer
// search, so that the page's form carries its token).
func (s *Server) handleStaffAuditFilter() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		before, _ := strconv.ParseInt(r.PostFormValue("before"), 10, 64)
		return s.renderStaffAudit(w, r, staffsvc.AuditFilter{Action: r.PostFormValue("action"), ActorID: r.PostFormValue("actor"),
			TargetID: r.PostFormValue("target"), Before: before}, nil)
	}
}

// handleStaffAuditVerify checks the whole chain, as `resguardo audit
// verify` does, and shows the result above the newest entries. It reads
// only.
func (s *Server) handleStaffAuditVerify() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		rep, err := s.staffSvc.VerifyTrail(r.Context(), staffPrincipal(r))
		if err != nil {
			return err
		}
		return s.renderStaffAudit(w, r, staffsvc.AuditFilter{}, &rep)
	}
}

type staffTeamView struct {
	layout
	Me      string
	Members []staffsvc.Member
	Flash   string
}

var staffTeamFlashes = map[string]string{
	"disabled": "staff.flash.disabled", "invited": "staff.flash.invited", "invite_mailed": "staff.flash.invite_mailed",
}

// renderStaffTeam shows the team. It never shows an enrolment link: those
// go to the invitee's mailbox only.
func (s *Server) renderStaffTeam(w http.ResponseWriter, r *http.Request, status int, f form) error {
	p := staffPrincipal(r)
	members, err := s.staffSvc.List(r.Context(), &p)
	if err != nil {
		return err
	}
	l := s.layoutFor(r, "staff.team.title")
	l.Form = f
	return s.render(w, r, status, pageStaffTeam, staffTeamView{layout: l, Me: p.StaffID, Members: members,
		Flash: staffTeamFlashes[r.URL.Query().Get("done")]})
}

func (s *Server) handleStaffTeam() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.renderStaffTeam(w, r, http.StatusOK, form{})
	}
}

// handleStaffInvite invites a staff member (step-up). An auditor's
// enrolment link goes to their mailbox at once; any other role waits for a
// second administrator on /approvals, and only then is its link made and
// mailed to the invitee. The page never shows a link.
func (s *Server) handleStaffInvite() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		p := staffPrincipal(r)
		inv, err := s.staffSvc.Create(r.Context(), r.PostFormValue("email"), resguardo.Role(r.PostFormValue("role")), &p)
		if err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			return s.renderStaffTeam(w, r, status, failedForm(r, keys))
		}
		done := "invite_mailed"
		if inv.RequestID != "" {
			done = "invited"
		}
		http.Redirect(w, r, "/team?done="+done, http.StatusSeeOther)
		return nil
	}
}

// handleStaffDisable disables an agent, lead or auditor at once (step-up);
// for an administrator it records a request a second administrator must
// approve.
func (s *Server) handleStaffDisable() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := s.staffSvc.DisableOrRequest(r.Context(), staffPrincipal(r), r.PathValue("id"))
		if err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			return s.renderStaffTeam(w, r, status, form{Errors: summaryOnly(keys)})
		}
		if req != "" {
			http.Redirect(w, r, "/approvals?done=requested", http.StatusSeeOther)
			return nil
		}
		http.Redirect(w, r, "/team?done=disabled", http.StatusSeeOther)
		return nil
	}
}

// handleStaffGrant asks for a lead or admin role for a member; a second
// administrator approves it on /approvals.
func (s *Server) handleStaffGrant() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		_, err := s.staffSvc.Request(r.Context(), staffPrincipal(r), staffsvc.KindGrant, r.PathValue("id"), r.PostFormValue("role"))
		if err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			return s.renderStaffTeam(w, r, status, form{Errors: summaryOnly(keys)})
		}
		http.Redirect(w, r, "/approvals?done=requested", http.StatusSeeOther)
		return nil
	}
}
