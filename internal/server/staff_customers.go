package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/resguardo/resguardo"
	staffsvc "github.com/resguardo/resguardo/internal/staff"
)

// The console's customer pages: search (a POST, so that an e-mail address
// or phone number never travels in a URL), the masked view, reveal with a
// reason, edits, the lead-only critical operations behind step-up, and the
// four-eyes requests. Every operation is the staff service's, which checks
// the permission table itself and audits.

type staffCustomersView struct {
	layout
	Searched bool
	Results  []staffsvc.MaskedCustomer
}

func (s *Server) handleStaffCustomers() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.render(w, r, http.StatusOK, pageStaffCustomers, staffCustomersView{layout: s.layoutFor(r, "staff.customers.title")})
	}
}

// handleStaffSearch finds customers by exact e-mail, exact phone or id. The
// terms are not put back in the page: it shows masked values only.
func (s *Server) handleStaffSearch() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		found, err := s.staffSvc.Search(r.Context(), staffPrincipal(r), r.PostFormValue("q"))
		l := s.layoutFor(r, "staff.customers.title")
		status := http.StatusOK
		if err != nil {
			keys, st, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			l.Form, status = form{Errors: keys, values: formValues(r, "q")}, st
		}
		return s.render(w, r, status, pageStaffCustomers, staffCustomersView{layout: l, Searched: err == nil, Results: found})
	}
}

// revealed is a value shown in clear once, in the response to its reveal.
type revealed struct {
	Label string // what it is: name, e-mail, phone or address (masked)
	Value string
}

type staffCustomerView struct {
	layout
	C            staffsvc.MaskedCustomer
	Flash        string
	Revealed     revealed
	NewAddress   resguardo.Address
	AddressForms []resguardo.Address // one blank replacement form per address
	Reveal       bool                // may reveal
	Edit         bool                // may edit name and addresses
	Critical     bool                // lead: e-mail, phones, 2FA, lock, sessions (step-up)
	Export       bool                // may ask for an export (four-eyes)
	Erase        bool                // may ask for an erasure (four-eyes)
}

// staffCustomerFlashes are the only notices /customers/{id}?done= can show.
var staffCustomerFlashes = map[string]string{
	"saved": "staff.flash.saved", "email_sent": "staff.flash.email_sent", "locked": "staff.flash.locked",
	"unlocked": "staff.flash.unlocked", "mfa_reset": "staff.flash.mfa_reset", "revoked": "staff.flash.revoked",
}

// renderStaffCustomer shows one customer, masked. Each showing is an
// audited view (the customer sees it in their access log).
func (s *Server) renderStaffCustomer(w http.ResponseWriter, r *http.Request, status int, f form, newAddr resguardo.Address) error {
	c, err := s.staffSvc.View(r.Context(), staffPrincipal(r), r.PathValue("id"))
	if resguardo.ErrorCode(err) == resguardo.ENotFound {
		// An erased or never-existing customer: say so, and lead back to
		// the search, rather than a generic error page.
		return s.render(w, r, http.StatusNotFound, pageNotice, noticeView{layout: s.layoutFor(r, "staff.customer.missing_title"),
			MessageKey: "staff.customer.missing", LinkHref: "/customers", LinkKey: "staff.customer.back"})
	}
	if err != nil {
		return err
	}
	return s.renderStaffCustomerPage(w, r, status, c, f, revealed{}, newAddr)
}

// renderStaffCustomerPage renders a customer the staff service has already
// read and audited (a view or a reveal): it reads nothing and records
// nothing itself.
func (s *Server) renderStaffCustomerPage(w http.ResponseWriter, r *http.Request, status int, c staffsvc.MaskedCustomer, f form, shown revealed, newAddr resguardo.Address) error {
	p := staffPrincipal(r)
	l := s.layoutFor(r, "staff.customer.title")
	l.Form = f
	v := staffCustomerView{layout: l, C: c, Flash: staffCustomerFlashes[r.URL.Query().Get("done")], Revealed: shown, NewAddress: newAddr,
		Reveal: p.Can(resguardo.PermCustomerReveal), Edit: p.Can(resguardo.PermCustomerEdit), Critical: p.Can(resguardo.PermCustomerCritical),
		Export: p.Can(resguardo.PermCustomerExport), Erase: p.Can(resguardo.PermCustomerErase)}
	for _, a := range c.Addresses {
		v.AddressForms = append(v.AddressForms, resguardo.Address{ID: a.ID})
	}
	if shown.Value != "" {
		// A value in clear: never kept by a cache, never shown again.
		w.Header().Set("Cache-Control", "no-store")
	}
	return s.render(w, r, status, pageStaffCustomer, v)
}

func (s *Server) handleStaffCustomer() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.renderStaffCustomer(w, r, http.StatusOK, form{}, resguardo.Address{})
	}
}

// revealLabels names each revealable field on the page.
var revealLabels = map[string]string{"name": "field.name", "email": "field.email", "phone": "field.phone", "address": "staff.reveal.address"}

// handleStaffReveal shows one field in clear, in this response only. The
// service returns the masked page data with the value: one reading of the
// profile and one audit entry for the whole response.
func (s *Server) handleStaffReveal() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		got, err := s.staffSvc.Reveal(r.Context(), staffPrincipal(r), r.PathValue("id"), r.PostFormValue("field"), r.PostFormValue("reason"))
		if err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			if d := resguardo.RetryAfter(err); d > 0 {
				w.Header().Set("Retry-After", retryAfterSeconds(d))
			}
			return s.renderStaffCustomer(w, r, status, failedForm(r, keys), resguardo.Address{})
		}
		return s.renderStaffCustomerPage(w, r, http.StatusOK, got.Customer, form{}, revealed{Label: revealLabels[got.Field], Value: got.Value}, resguardo.Address{})
	}
}

// staffCustomerChange runs one change of the customer page and answers it:
// back to the page with a notice, or the page again with what was wrong.
// Refusals (403) and step-up (to /reauth) go to the error adapter.
func (s *Server) staffCustomerChange(done string, change func(r *http.Request, p staffsvc.Principal, customerID string) error) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		if err := change(r, staffPrincipal(r), id); err != nil {
			keys, status, ok := staffFormFailure(err)
			if !ok {
				return err
			}
			newAddr := resguardo.Address{}
			if strings.HasSuffix(r.URL.Path, "/addresses") {
				newAddr = addressFromForm(r, "")
			}
			return s.renderStaffCustomer(w, r, status, failedForm(r, keys), newAddr)
		}
		http.Redirect(w, r, "/customers/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
		return nil
	}
}

func (s *Server) handleStaffEditName() handler {
	return s.staffCustomerChange("saved", func(r *http.Request, p staffsvc.Principal, id string) error {
		return s.staffSvc.EditName(r.Context(), p, id, r.PostFormValue("name"))
	})
}

func (s *Server) handleStaffAddressAdd() handler {
	return s.staffCustomerChange("saved", func(r *http.Request, p staffsvc.Principal, id string) error {
		return s.staffSvc.SaveAddress(r.Context(), p, id, addressFromForm(r, ""))
	})
}

func (s *Server) handleStaffAddressUpdate() handler {
	return s.staffCustomerChange("saved", func(r *http.Request, p staffsvc.Principal, id string) error {
		return s.staffSvc.SaveAddress(r.Context(), p, id, addressFromForm(r, r.PathValue("aid")))
	})
}

func (s *Server) handleStaffAddressDelete() handler {
	return s.staffCustomerChange("saved", func(r *http.Request, p staffsvc.Principal, id string) error {
		return s.staffSvc.DeleteAddress(r.Context(), p, id, r.PathValue("aid"))
	})
}

func (s *Server) handleStaffEmailChange() handler {
	return s.staffCustomerChange("email_sent", func(r *http.Request, p staffsvc.Principal, id string) error {
		return s.staffSvc.ChangeEmail(r.Context(), p, id, r.PostFormValue("email"))
	})
}

func (s *Server) handleStaffPhoneAdd() handler {
	return s.staffCustomerChange("saved", func(r *http.Request, p staffsvc.Principal, id string) error {
		return s.staffSvc.AddPhone(r.Context(), p, id, r.PostFormValue("label"), r.PostFormValue("number"))
	})
}

func (s *Server) handleStaffPhoneDelete() handler {
	return s.staffCustomerChange("saved", func(r *http.Request, p staffsvc.Principal, id string) error {
		return s.staffSvc.DeletePhone(r.Context(), p, id, r.PathValue("pid"))
	})
}

func (s *Server) handleStaffMFAReset() handler {
	return s.staffCustomerChange("mfa_reset", func(r *http.Request, p staffsvc.Principal, id string) error {
		return s.staffSvc.ResetSecondFactor(r.Context(), p, id)
	})
}

func (s *Server) handleStaffLock(locked bool) handler {
	done := "unlocked"
	if locked {
		done = "locked"
	}
	return s.staffCustomerChange(done, func(r *http.Request, p staffsvc.Principal, id string) error {
		return s.staffSvc.SetLocked(r.Context(), p, id, locked)
	})
}

func (s *Server) handleStaffRevokeSessions() handler {
	return s.staffCustomerChange("revoked", func(r *http.Request, p staffsvc.Principal, id string) error {
		return s.staffSvc.RevokeSessions(r.Context(), p, id)
	})
}

// handleStaffRequest asks for a four-eyes operation on a customer (an
// export or an erasure); a second lead decides on /approvals.
func (s *Server) handleStaffRequest(kind string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, err := s.staffSvc.Request(r.Context(), staffPrincipal(r), kind, r.PathValue("id"), ""); err != nil {
			return err
		}
		http.Redirect(w, r, "/approvals?done=requested", http.StatusSeeOther)
		return nil
	}
}
