package server

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/resguardo/resguardo"
	"github.com/resguardo/resguardo/internal/account"
	staffsvc "github.com/resguardo/resguardo/internal/staff"
)

//go:embed templates
var templateFS embed.FS

// views holds every page template, parsed once at start. Each page is the
// layout plus its own "content" block, executed with its own view struct.
type views struct {
	pages map[string]*template.Template
}

// The pages, each with the view struct it is executed with.
const (
	pageHome       = "home"
	pageError      = "error"
	pageStaffLogin = "staff_login"
	pageRegister   = "register"
	pageLogin      = "login"
	pageNotice     = "notice"
	pageVerify     = "verify_email"
	pageForgot     = "forgot"
	pageReset      = "reset"
	pageAccount    = "account"
	pageSecurity   = "security"
	pageReauth     = "reauth"
	pageMFA        = "mfa"
	pageTOTPSetup  = "totp_setup"
	pageRecovery   = "recovery_codes"
	pageDelete     = "delete_account"
)

var pageNames = []string{pageHome, pageError, pageStaffLogin, pageRegister, pageLogin, pageNotice,
	pageVerify, pageForgot, pageReset, pageAccount, pageSecurity, pageReauth, pageMFA, pageTOTPSetup, pageRecovery, pageDelete}

// layout is what every view embeds: what the shared frame needs.
type layout struct {
	Lang     string
	Nonce    string
	T        func(string) string
	TitleKey string
	Staff    bool // the staff console: shown in the header, styled apart
	SignedIn bool
	CSRF     string // form token of this browser (session- or pre-session-bound)
	Form     form

	// StaffRole is the signed-in staff member's role (second factor given),
	// for the console's links; "" otherwise.
	StaffRole resguardo.Role
}

func (l layout) base() layout { return l }

// form carries what a re-rendered form needs: the submitted values (never
// passwords or codes), what was wrong, and which form of the page failed.
type form struct {
	values map[string]string
	Errors []formError
	// Prefix is the element id prefix of the form that failed, on pages with
	// several forms ("phone-", "new-", an address id and "-"); each input's
	// id is the prefix and the field's name, so a message links to its field.
	Prefix string
}

// formError is one fault: the message key, and the input it is about ("" when
// it is about the form as a whole, like a failed sign-in).
type formError struct {
	Field string
	Key   string
}

// Value returns a submitted value to put back in its field.
func (f form) Value(name string) string { return f.values[name] }

// ValueFor returns a submitted value for the form with this id prefix only,
// so that a failed form keeps what was typed and the others do not.
func (f form) ValueFor(prefix, name string) string {
	if f.Prefix != prefix {
		return ""
	}
	return f.values[name]
}

// Anchor is the element id a summary line links to ("" for none).
func (f form) Anchor(e formError) string {
	if e.Field == "" {
		return ""
	}
	return f.Prefix + e.Field
}

// fieldView is what one input needs to show its own fault: its id, the id of
// its message, and the message key ("" when the field is fine).
type fieldView struct {
	ID    string
	ErrID string
	Key   string
	T     func(string) string
}

// fieldState returns the fieldView of the input named name in the form with
// id prefix prefix.
func fieldState(v interface{ base() layout }, prefix, name string) fieldView {
	l := v.base()
	fv := fieldView{ID: prefix + name, ErrID: prefix + name + "-error", T: l.T}
	if l.Form.Prefix == prefix {
		for _, e := range l.Form.Errors {
			if e.Field == name {
				fv.Key = e.Key
				break
			}
		}
	}
	return fv
}

type homeView struct{ layout }

type loginView struct {
	layout
	Next string
}

type tokenFormView struct {
	layout
	Token string
}

type noticeView struct {
	layout
	MessageKey string
	LinkHref   string
	LinkKey    string
}

type accountView struct {
	layout
	Section    string // which section of the account the page shows
	Customer   resguardo.Customer
	NewAddress resguardo.Address
	Flash      string
	AccessLog  []accessLogEntry
}

// Section is the account section the security page is, for the
// sections' navigation.
func (securityView) Section() string { return "security" }

// accountSections are the account's sections in the order the navigation
// lists them.
var accountSections = []string{sectionProfile, sectionContact, "security", sectionActivity, sectionPrivacy}

type securityView struct {
	layout
	Flash    string
	Sessions []account.SessionInfo
	TOTP     bool
	Passkeys []account.PasskeyInfo
}

type totpSetupView struct {
	layout
	Secret string
	// URI is the otpauth: link, for an authenticator on the same phone
	// (a QR code cannot be scanned by the phone showing it). html/template
	// refuses the otpauth: scheme in an href, and this project allows no
	// escape hatch: the page carries it as data and the product's script
	// makes the link.
	URI string
}

type recoveryView struct {
	layout
	Codes []string
}

// addressFormView is one address form's fields; P prefixes element ids so
// that several forms on a page keep unique ids for their labels.
type addressFormView struct {
	layout
	P string
	A resguardo.Address
}

func addressForm(v interface{ base() layout }, a resguardo.Address) addressFormView {
	p := "new-"
	if a.ID != "" {
		p = a.ID + "-"
	}
	l := v.base()
	if l.Form.Prefix == p && l.Form.values != nil {
		// This form failed: show what was typed, not what is stored.
		f := l.Form
		a = resguardo.Address{ID: a.ID, Label: f.values["label"], Line1: f.values["line1"], Line2: f.values["line2"], City: f.values["city"],
			Region: f.values["region"], PostalCode: f.values["postal_code"], Country: f.values["country"]}
	}
	return addressFormView{layout: l, P: p, A: a}
}

type staffLoginView struct {
	layout
	Next string
}

type errorView struct {
	layout
	Status    int
	StatusKey string
	RequestID string
}

func loadViews(a *assets) (*views, error) {
	base, err := template.New("layout.html").Funcs(template.FuncMap{"asset": a.Path, "addressForm": addressForm, "field": fieldState,
		"sectionNames": func() []string { return accountSections }, "sectionPath": sectionPath,
		"outcomeNoted": outcomeNoted, "clientNetwork": clientNetwork, "countries": countries, "staffName": staffNameOf}).
		ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	v := &views{pages: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		v.pages[name] = t
	}
	return v, nil
}

// layoutFor fills the shared part of a view for this request.
func (s *Server) layoutFor(r *http.Request, titleKey string) layout {
	ri := requestInfoFrom(r.Context())
	l := layout{Lang: ri.Lang, Nonce: ri.nonce(), T: translator(ri.Lang), TitleKey: titleKey, Staff: ri.Surface == string(staff)}
	if p, ok := principalFrom(r.Context()); ok {
		l.SignedIn, l.CSRF = true, p.CSRFToken
	}
	if p, ok := staffPrincipalFrom(r.Context()); ok {
		l.SignedIn, l.CSRF = p.MFADone, p.CSRFToken
		if p.MFADone {
			l.StaffRole = p.Role
		}
	}
	return l
}

// render executes page into a buffer first, so a template error becomes a
// clean 500 instead of half a page, then sends it with the page CSP.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, view any) error {
	t, ok := s.views.pages[page]
	if !ok {
		return fmt.Errorf("no page template %q", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", view); err != nil {
		return fmt.Errorf("render %s: %w", page, err)
	}
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP(requestInfoFrom(r.Context()).nonce()))
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", requestInfoFrom(r.Context()).Lang)
	h.Add("Vary", "Accept-Language, Cookie")
	w.WriteHeader(status)
	_, err := buf.WriteTo(w)
	return err
}

// renderError is the page error adapter: a localised message for the status
// and the request id, nothing from the error itself.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int) {
	key := "error." + strconv.Itoa(status)
	if _, ok := messages["en"][key]; !ok {
		key = "error.500"
	}
	view := errorView{layout: s.layoutFor(r, "error.title"), Status: status, StatusKey: key, RequestID: requestInfoFrom(r.Context()).ID}
	if err := s.render(w, r, status, pageError, view); err != nil {
		s.log.ErrorContext(r.Context(), "render error page", "err", err)
		http.Error(w, http.StatusText(status), status)
	}
}

// keptFields are the inputs whose typed values a failed form shows again;
// passwords, codes and confirmations are never among them.
var keptFields = []string{"name", "email", "label", "number", "line1", "line2", "city", "region", "postal_code", "country", "reason"}

// failedForm is the form a POST came from, on a page with several forms:
// its faults, the values to put back, and its id prefix, told by the path
// it was posted to (the templates give each form's inputs that prefix).
func failedForm(r *http.Request, keys []formError) form {
	f := form{Errors: keys, values: formValues(r, keptFields...)}
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/phones"):
		f.Prefix = "phone-"
	case strings.HasSuffix(p, "/addresses"):
		f.Prefix = "new-"
	case r.PathValue("aid") != "":
		f.Prefix = r.PathValue("aid") + "-"
	case strings.HasPrefix(p, "/account/addresses/"):
		f.Prefix = r.PathValue("id") + "-"
	case strings.HasSuffix(p, "/reveal"):
		f.Prefix = "reveal-"
	case strings.HasPrefix(p, "/customers/") && (strings.HasSuffix(p, "/name") || strings.HasSuffix(p, "/email")):
		f.Prefix = "new-"
	case p == "/account/email":
		f.Prefix = "new-"
	case p == "/account/totp/remove":
		f.Prefix = "remove-"
	case p == "/account/password":
		f.Errors = renameField(keys, "password", "new_password")
	case p == "/team":
		f.Prefix = "invite-"
	case p == "/audit":
		f.Prefix = "f-"
	}
	return f
}

// summaryOnly drops the field of each fault, for forms without inputs of
// their own (a button per row): the messages stay in the summary.
func summaryOnly(keys []formError) []formError {
	for i := range keys {
		keys[i].Field = ""
	}
	return keys
}

// outcomeNoted reports whether a log line should add its outcome to the
// action's name: not when the name already says it ("Failed sign-in", not
// "Failed sign-in (failed)").
func outcomeNoted(action, outcome string) bool {
	if outcome == "success" {
		return false
	}
	for _, said := range []string{"failed", "throttled", "refused", "denied"} {
		if strings.Contains(action, said) {
			return false
		}
	}
	return true
}

// clientNetwork is the network part of a session's client ("198.51.100.0/24
// Firefox on Linux" → "198.51.100.0/24"): the device is shown on its own.
func clientNetwork(client string) string {
	n, _, _ := strings.Cut(client, " ")
	return n
}

// staffNameView is one staff member as a page names them: address and
// role, the id only in a detail the reader opens.
type staffNameView struct {
	ID    string
	Name  string // the display name, else the work address; "" if the id names no one
	Email string // shown in the detail view when a display name is set
	Role  resguardo.Role
	T     func(string) string
}

// staffNameOf looks id up in the page's Names (approvals, audit trail).
func staffNameOf(v interface{ base() layout }, id string) staffNameView {
	n := staffNameView{ID: id, T: v.base().T}
	var names map[string]staffsvc.StaffName
	switch p := v.(type) {
	case staffApprovalsView:
		names = p.Names
	case staffAuditView:
		names = p.Names
	}
	if sn, ok := names[id]; ok {
		n.Name, n.Email, n.Role = sn.Display(), sn.Email, sn.Role
	}
	return n
}
