package server

import "net/http"

// handleStaffRoot sends visitors of the console's root to the sign-in page;
// the dashboard takes this path once staff sessions exist.
func (s *Server) handleStaffRoot() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	}
}

// handleStaffLogin shows the staff sign-in page. Until staff accounts exist
// it explains how they are created and offers no form to submit.
func (s *Server) handleStaffLogin() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.render(w, r, http.StatusOK, pageStaffLogin, staffLoginView{layout: s.layoutFor(r, "staff.login.title")})
	}
}
