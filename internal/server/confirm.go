package server

import (
	"net/http"

	"github.com/resguardo/resguardo"
)

// errBoxNotTicked refuses a destructive form sent without its confirmation
// box ticked.
var errBoxNotTicked = &resguardo.Error{Code: resguardo.EInvalid, Message: "Tick the box to confirm this action.",
	Fields: []resguardo.FieldProblem{{Field: "confirm", Detail: "is required"}}}

// ticked runs h only when the form carries confirm=yes: the destructive
// forms (delete a phone or an address, sign out other devices, lock a
// customer, reset their second factor, end their sessions, ask for their
// erasure) hold a required confirmation box, so that without script
// nothing destructive runs on one click, and a request without the box
// changes nothing.
func ticked(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.PostFormValue("confirm") != "yes" {
			return errBoxNotTicked
		}
		return h(w, r)
	}
}
