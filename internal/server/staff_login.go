package server

import "net/http"

// staffHomeView is the dashboard: links by role (from the layout), and who
// is signed in.
type staffHomeView struct {
	layout
	Email string
}

// handleStaffRoot is the dashboard. Its policy sends a visitor without a
// session to /login.
func (s *Server) handleStaffRoot() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.render(w, r, http.StatusOK, pageStaffHome, staffHomeView{layout: s.layoutFor(r, "staff.home.title"), Email: staffPrincipal(r).Email})
	}
}

// handleStaffLogin shows the staff sign-in form: e-mail and password, with
// a pre-session form token; the code is asked for next.
func (s *Server) handleStaffLogin() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		next, _ := localPath(r.URL.Query().Get("next"))
		return s.render(w, r, http.StatusOK, pageStaffLogin, staffLoginView{layout: s.guestLayout(w, r, "staff.login.title"), Next: next})
	}
}
