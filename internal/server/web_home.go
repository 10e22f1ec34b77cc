package server

import "net/http"

func (s *Server) handleHome() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.render(w, r, http.StatusOK, pageHome, homeView{layout: s.layoutFor(r, "home.title")})
	}
}
