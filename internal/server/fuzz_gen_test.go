package server

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/resguardo/resguardo"
	staffsvc "github.com/resguardo/resguardo/internal/staff"
)

// --- API cases, from the served OpenAPI document ---

// jsonPair is one member of a JSON object, its value a raw fragment.
type jsonPair struct{ k, v string }

func jsonObject(pairs []jsonPair) []byte {
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.k)
		b.Write(k)
		b.WriteByte(':')
		b.WriteString(p.v)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// exampleValue is a valid value for a field of that name.
func exampleValue(name string) string {
	switch name {
	case "email":
		return bystanderEmail
	case "password", "current_password", "new_password":
		return testPassword
	case "number":
		return "+34600123456"
	case "country":
		return "ES"
	case "code":
		return "123456"
	case "name":
		return "Ana García"
	case "label":
		return "casa"
	case "line1":
		return "Calle Mayor 1"
	case "line2":
		return "2º B"
	case "city", "region":
		return "Madrid"
	case "postal_code":
		return "28013"
	case "device_name":
		return "Pixel 8"
	case "before", "limit":
		return "5"
	}
	if strings.Contains(name, "token") {
		return strings.Repeat("T", 26)
	}
	return "x"
}

// pathPlaceholder names the fuzzer's id for a path parameter by the
// collection before it.
func pathPlaceholder(collection string) string {
	switch collection {
	case "phones":
		return "{phone_id}"
	case "addresses":
		return "{address_id}"
	case "sessions":
		return "{session_id}"
	case "customers":
		return "{customer_id}"
	}
	return "{random_id}"
}

// bodySchema is the object schema of an operation's JSON body (the first
// alternative of a oneOf), or nil.
func bodySchema(op *openapi3.Operation) *openapi3.Schema {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return nil
	}
	s := mt.Schema.Value
	if len(s.OneOf) > 0 && s.OneOf[0].Value != nil {
		s = s.OneOf[0].Value
	}
	return s
}

func (f *fuzzer) apiCases() []fuzzCase {
	var out []fuzzCase
	paths := f.doc.Paths.InMatchingOrder()
	sort.Strings(paths)
	for _, p := range paths {
		item := f.doc.Paths.Value(p)
		ops := item.Operations()
		methods := make([]string, 0, len(ops))
		for m := range ops {
			methods = append(methods, m)
		}
		sort.Strings(methods)
		for _, m := range methods {
			out = append(out, f.budget(f.operationCases(p, m, item, ops[m]))...)
		}
	}
	return out
}

func (f *fuzzer) operationCases(p, method string, item *openapi3.PathItem, op *openapi3.Operation) []fuzzCase {
	authenticated := len(f.doc.Security) > 0
	if op.Security != nil {
		authenticated = len(*op.Security) > 0
	}
	as := "guest"
	if authenticated {
		as = "customer"
	}
	target := "api " + method + " " + p
	// The path with every parameter at a valid value.
	segs := strings.Split(p, "/")
	var pathParams []int
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			segs[i] = pathPlaceholder(segs[i-1])
			pathParams = append(pathParams, i)
		}
	}
	validPath := strings.Join(segs, "/")
	base := fuzzCase{Surface: "site", As: as, Method: method, Path: validPath, Target: target}

	var out []fuzzCase
	add := func(c fuzzCase, name string) {
		c.Name = target + ": " + name
		c.whole = c.Value == "" && name != "valid example"
		out = append(out, c)
	}
	schema := bodySchema(op)
	var example []jsonPair
	if schema != nil {
		names := make([]string, 0, len(schema.Properties))
		for n := range schema.Properties {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			v, _ := json.Marshal(exampleValue(n))
			example = append(example, jsonPair{n, string(v)})
		}
	}
	withBody := func(c fuzzCase, body []byte, ct string) fuzzCase {
		c.setBody(body)
		c.ContentType = ct
		return c
	}
	const ctJSON = "application/json"

	// The valid example, then one field at a time.
	if schema != nil {
		add(withBody(base, jsonObject(example), ctJSON), "valid example")
		for i, pair := range example {
			ps := schema.Properties[pair.k].Value
			maxLen := 0
			if ps != nil && ps.MaxLength != nil {
				maxLen = int(*ps.MaxLength)
			}
			for _, v := range f.valuesForField(fieldKind(pair.k, ""), maxLen, true) {
				mutated := slices.Clone(example)
				if v.Cat == "missing" {
					mutated = slices.Delete(mutated, i, i+1)
				} else {
					mutated[i].v = v.JSON
				}
				c := withBody(base, jsonObject(mutated), ctJSON)
				c.Field, c.Value = pair.k, v.Cat+": "+v.Note
				add(c, pair.k+" "+v.Cat+" ("+v.Note+")")
			}
		}
		// Duplicate keys, the bad value first or last.
		if len(example) > 0 {
			i := f.rng.IntN(len(example))
			bad := f.pick(injections(), 1)[0].JSON
			order := [2]string{example[i].v, bad}
			if f.rng.IntN(2) == 0 {
				order = [2]string{bad, example[i].v}
			}
			dup := append(slices.Clone(example), jsonPair{example[i].k, order[1]})
			dup[i].v = order[0]
			c := withBody(base, jsonObject(dup), ctJSON)
			c.Field = example[i].k
			add(c, "duplicate key "+example[i].k)
		}
		add(withBody(base, jsonObject(append(slices.Clone(example), jsonPair{"zz_unknown", "1"})), ctJSON), "unknown field")
		big := []fuzzCase{
			withBody(base, jsonObject(append(slices.Clone(example), jsonPair{"pad", `"` + strings.Repeat("p", 70<<10) + `"`})), ctJSON),
			withBody(base, append(jsonObject(example), []byte(strings.Repeat(" ", 70<<10))...), ctJSON),
		}
		add(big[f.rng.IntN(len(big))], "body past 64 KiB")
		cts := []string{"text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1", ""}
		ct := cts[f.rng.IntN(len(cts))]
		add(withBody(base, jsonObject(example), ct), "content type "+ct)
	} else {
		add(base, "valid example")
		add(withBody(base, []byte(`{"zz_unknown":1}`), ctJSON), "unexpected body")
	}
	// One odd body of these.
	odd := []fuzzCase{base}
	names := []string{"no body"}
	if schema != nil {
		odd = append(odd, withBody(base, append(jsonObject(example), jsonObject(example)...), ctJSON))
		names = append(names, "two JSON values")
	}
	for _, raw := range []string{`null`, `[]`, `"x"`, `1`, `true`, `{`, `{"a":}`, `{'a':1}`, `{"a":1,}`,
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000), "\xef\xbb\xbf{}", "{}"} {
		odd = append(odd, withBody(base, []byte(raw), ctJSON))
		names = append(names, "body "+abbreviate(raw))
	}
	oddIndex := f.rng.IntN(len(odd))
	add(odd[oddIndex], names[oddIndex])
	// Path parameters.
	for _, i := range pathParams {
		var vals []string
		for _, v := range append(append(f.pick(malformed("id"), 2), f.pick(injections(), 1)...), f.pick(unicodeEdges(), 1)...) {
			vals = append(vals, url.PathEscape(v.Form))
		}
		special := []string{strings.Repeat("A", 2000), "..", "%2e%2e", "..%2f..%2fopenapi.json"}
		vals = append(vals, special[f.rng.IntN(len(special))])
		for _, v := range vals {
			s := slices.Clone(strings.Split(validPath, "/"))
			s[i] = v
			c := base
			c.Path = strings.Join(s, "/")
			c.Field = segs[i]
			if schema != nil {
				c = withBody(c, jsonObject(example), ctJSON)
			}
			add(c, "path "+abbreviate(v))
		}
	}
	// Query parameters.
	params := append(slices.Clone(item.Parameters), op.Parameters...)
	for _, pr := range params {
		if pr.Value == nil || pr.Value.In != "query" {
			continue
		}
		vals := append(append(f.pick(malformed("integer"), 3), f.pick(injections(), 1)...), f.pick(unicodeEdges(), 1)...)
		for _, v := range vals {
			c := base
			c.Path = validPath + "?" + url.QueryEscape(pr.Value.Name) + "=" + url.QueryEscape(v.Form)
			c.Field = pr.Value.Name
			add(c, "query "+pr.Value.Name+" "+v.Note)
		}
		c := base
		c.Path = validPath + "?" + pr.Value.Name + "=1&" + pr.Value.Name + "=2"
		add(c, "query "+pr.Value.Name+" twice")
	}
	// The authentication gate, as the contract describes it.
	if authenticated {
		c := base
		c.As = "guest"
		add(c, "no token")
	}
	return out
}

func abbreviate(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// --- forms, from the pages ---

// formTarget is one form found on a page, fuzzed by posting to its action.
type formTarget struct {
	key, surface, as string
	source           string // page path, with {customer_id} or {enrol_token}
	method           string
	fields           []htmlField
	action           string // as found last on the page
	gone             bool
}

var idSegmentRe = regexp.MustCompile(`^[A-Z2-7]{26}$`)

// templatePath puts placeholders for the ids in an action path.
func templatePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if i > 0 && idSegmentRe.MatchString(s) {
			name := pathPlaceholder(segs[i-1])
			switch segs[i-1] {
			case "team":
				name = "{staff_id}"
			case "approvals":
				name = "{approval_id}"
			}
			segs[i] = name
		}
	}
	return strings.Join(segs, "/")
}

func formKey(surface, as string, fm htmlForm) string {
	names := make([]string, 0, len(fm.Fields))
	for _, fl := range fm.Fields {
		names = append(names, fl.Name)
	}
	return surface + " " + as + " " + fm.Method + " " + templatePath(fm.Action) + " [" + strings.Join(names, ",") + "]"
}

// crawlSeeds are the pages each principal starts from. Links found on them
// are followed; a few pages are reached in a browser only through a POST
// (the staff customer page comes from a search) or a mailed link (the
// enrolment and reset pages), so they are seeds.
var crawlSeeds = map[string][]string{
	"site guest":    {"/", "/register", "/login", "/password/forgot", "/verify-email?token={random_id}", "/password/reset?token={random_id}", "/login/mfa"},
	"site customer": {"/", "/account", "/account/contact", "/account/activity", "/account/privacy", "/account/security", "/account/reauth", "/account/delete"},
	"staff guest":   {"/login", "/enrol?token={enrol_token}"},
	"staff lead":    {"/", "/customers", "/customers/{customer_id}", "/approvals", "/reauth"},
	"staff admin":   {"/", "/team", "/audit", "/audit/verify", "/approvals", "/reauth"},
}

// discoverForms reads every seed page and the local pages they link to, as
// each principal, and records every form.
func (f *fuzzer) discoverForms() {
	t := f.t
	// A four-eyes request waiting, so that the approvals page has forms,
	// and a pending enrolment, so that the enrolment page has one.
	_, p, ok := f.staffSignIn(f.lead)
	if !ok {
		t.Fatal("lead cannot sign in")
	}
	if _, err := f.ts.staffSvc.Request(t.Context(), p, staffsvc.KindExport, f.ids["customer_id"], ""); err != nil {
		t.Fatalf("export request: %v", err)
	}
	f.newEnrolToken()
	sameForm := map[string]bool{}
	// Guests first: their forms are fuzzed as guests.
	for _, k := range []string{"site guest", "site customer", "staff guest", "staff lead", "staff admin"} {
		c := f.clients[k]
		f.ensureClient(c)
		seen := map[string]bool{}
		queue := slices.Clone(crawlSeeds[k])
		for len(queue) > 0 && len(seen) < 40 {
			src := queue[0]
			queue = queue[1:]
			if seen[src] || strings.HasPrefix(src, "/static/") || strings.HasPrefix(src, "/api/") {
				continue
			}
			seen[src] = true
			status, body := f.get(c, f.resolvePage(src))
			if status >= 500 {
				f.fail(fuzzCase{Name: "crawl", Surface: c.surface, As: c.as, Method: "GET", Path: src}, status, "page error")
			}
			forms, links := parseForms(body)
			for _, fm := range forms {
				key := formKey(c.surface, c.as, fm)
				// A form already found as another principal (the sign-in
				// form seen signed in, the staff step-up form) is fuzzed once.
				same := formKey(c.surface, "", fm)
				if fm.Action == "" || f.forms[key] != nil || sameForm[same] {
					continue
				}
				sameForm[same] = true
				f.forms[key] = &formTarget{key: key, surface: c.surface, as: c.as, source: src, method: fm.Method, fields: fm.Fields, action: fm.Action}
			}
			for _, l := range links {
				l = f.templatePage(l)
				if !seen[l] {
					queue = append(queue, l)
				}
			}
		}
	}
	if len(f.forms) < 20 {
		t.Fatalf("the crawl found only %d forms", len(f.forms))
	}
	t.Logf("forms found: %d", len(f.forms))
}

func (f *fuzzer) newEnrolToken() {
	f.ids["enrol_token"] = f.ts.enrolLink(f.t, f.fresh("invitee"), "agent")
}

// resolvePage fills a page path's placeholders.
func (f *fuzzer) resolvePage(p string) string {
	p = strings.ReplaceAll(p, "{enrol_token}", url.QueryEscape(f.ids["enrol_token"]))
	return f.resolve(p, nil)
}

// templatePage puts the placeholder back for the customer's id in a page
// path found in a link.
func (f *fuzzer) templatePage(p string) string {
	if id := f.ids["customer_id"]; id != "" {
		p = strings.ReplaceAll(p, id, "{customer_id}")
	}
	return p
}

// refreshForm reads the form's page again when its client's session or
// token may have changed (after a success, a sign-out, a new principal),
// to post with the current token and ids. It reports false when the form
// is no longer offered.
func (f *fuzzer) refreshForm(ft *formTarget) bool {
	if ft.gone {
		return false
	}
	c := f.clients[ft.surface+" "+ft.as]
	if !c.dirty {
		return true
	}
	defer f.timed("reading forms again")()
	if ft.surface == "staff" && ft.as == "lead" {
		f.ensureCustomer() // the lead's forms act on the customer
	}
	f.ensureClient(c)
	f.before = nil
	for attempt := 0; attempt < 3; attempt++ {
		_, body := f.get(c, f.resolvePage(ft.source))
		forms, _ := parseForms(body)
		for _, fm := range forms {
			if formKey(ft.surface, ft.as, fm) == ft.key {
				ft.action, ft.fields = fm.Action, fm.Fields
				for _, fl := range fm.Fields {
					if fl.Name == formTokenName {
						c.csrf = fl.Value
					}
				}
				return true
			}
		}
		// The fuzzing used up what the form acts on: make more.
		switch {
		case strings.Contains(ft.source, "{enrol_token}"):
			f.newEnrolToken()
		case ft.source == "/team":
			f.ts.newStaff(f.t, f.fresh("agent"), resguardo.RoleAgent)
		case strings.Contains(ft.source, "{customer_id}"):
			// A locked customer offers unlock, not lock: a new customer.
			f.custDirty, f.cust.email, f.cust.access = true, "", ""
			f.ensureCustomer()
		default:
			attempt = 3
		}
	}
	f.t.Logf("form %s is no longer on %s; its remaining cases are skipped", ft.key, ft.source)
	ft.gone = true
	return false
}

// formPair is one field of a form body; v is raw, "{csrf}" is the token.
type formPair struct{ k, v string }

func encodeForm(pairs []formPair) string {
	parts := make([]string, 0, len(pairs))
	for _, p := range pairs {
		v := url.QueryEscape(p.v)
		if p.v == "{csrf}" || strings.HasPrefix(p.v, "{field:") {
			v = p.v
		}
		parts = append(parts, url.QueryEscape(p.k)+"="+v)
	}
	return strings.Join(parts, "&")
}

// formCases are the cases of one form: the valid example, each field's
// values one at a time, and the form as a whole (token, content type,
// size, duplicates).
func (f *fuzzer) formCases(ft *formTarget) []fuzzCase {
	var example []formPair
	for _, fl := range ft.fields {
		v := fl.Value
		switch {
		case fl.Name == formTokenName:
			v = "{csrf}"
		case fl.Type == "hidden":
			v = "{field:" + fl.Name + "}" // the page's current value, filled in when sent
		case fl.Type == "select" || fl.Type == "checkbox" || fl.Type == "radio" || fl.Type == "submit" || fl.Type == "button":
		case v == "":
			v = exampleValue(fl.Name)
			if fl.Type == "email" || fieldKind(fl.Name, fl.Type) == "email" {
				v = bystanderEmail
			}
		}
		example = append(example, formPair{fl.Name, v})
	}
	target := ft.surface + " " + map[bool]string{true: "customer-guest", false: ft.as}[ft.surface == "site" && ft.as == "guest"] + " " + ft.method + " " + templatePath(ft.action)
	if ft.surface == "staff" {
		target = "staff " + ft.as + " " + ft.method + " " + templatePath(ft.action)
	}
	base := fuzzCase{Surface: ft.surface, As: ft.as, Method: ft.method, Target: target,
		ContentType: "application/x-www-form-urlencoded"}
	var out []fuzzCase
	add := func(pairs []formPair, name, field, value string) {
		c := base
		c.Name, c.Form, c.Field, c.Value = target+": "+name, encodeForm(pairs), field, value
		c.whole = name != "valid example" && (field == "" || field == formTokenName || field == "*" || value == "duplicate")
		if c.Form == "" {
			c.Form = "zz_empty="
		}
		out = append(out, c)
	}
	add(example, "valid example", "", "")
	for i, fl := range ft.fields {
		if fl.Name == formTokenName {
			continue
		}
		vals := f.valuesForField(fieldKind(fl.Name, fl.Type), fl.MaxLength, false)
		if len(fl.Options) > 0 {
			vals = append(vals, str("malformed", "not one of the options", "zz-not-an-option"))
		}
		for _, v := range vals {
			mutated := slices.Clone(example)
			if v.Cat == "missing" {
				mutated = slices.Delete(mutated, i, i+1)
			} else {
				mutated[i].v = v.Form
			}
			add(mutated, fl.Name+" "+v.Cat+" ("+v.Note+")", fl.Name, v.Cat+": "+v.Note)
		}
	}
	// One field twice, the bad value first (what most parsers read).
	if len(ft.fields) > 1 {
		i := f.rng.IntN(len(ft.fields))
		if ft.fields[i].Name != formTokenName {
			dup := slices.Clone(example)
			dup[i].v = f.pick(injections(), 1)[0].Form
			add(append(dup, example[i]), ft.fields[i].Name+" twice", ft.fields[i].Name, "duplicate")
		}
	}
	without := func(name string) []formPair {
		return slices.DeleteFunc(slices.Clone(example), func(p formPair) bool { return p.k == name })
	}
	switch f.rng.IntN(3) {
	case 0:
		add(without(formTokenName), "no form token", formTokenName, "missing")
	case 1:
		add(append(without(formTokenName), formPair{formTokenName, strings.Repeat("A", 26)}), "wrong form token", formTokenName, "wrong")
	default:
		add(append([]formPair{{formTokenName, strings.Repeat("B", 26)}}, example...), "a wrong form token first", formTokenName, "duplicate")
	}
	add(append(slices.Clone(example), formPair{"zz_unknown", "1"}), "unknown field", "", "")
	add(append(slices.Clone(example), formPair{"pad", strings.Repeat("p", 70<<10)}), "body past 64 KiB", "", "")
	empty := slices.Clone(example)
	for i := range empty {
		if empty[i].k != formTokenName {
			empty[i].v = ""
		}
	}
	add(empty, "every field empty", "*", "empty")
	c := base
	c.Name, c.Form, c.whole = target+": other content type", encodeForm(example), true
	switch f.rng.IntN(3) {
	case 0:
		c.ContentType = "application/json"
	case 1:
		c.ContentType = ""
	default:
		c.ContentType, c.Form = "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n--x--\r\n"
	}
	out = append(out, c)
	return out
}

var hiddenRe = regexp.MustCompile(`\{field:([a-z_]+)\}`)

// fillHidden puts the page's current values of hidden fields in a form
// body (an enrolment or reset token, a field name).
func (f *fuzzer) fillHidden(form string, ft *formTarget) string {
	return hiddenRe.ReplaceAllStringFunc(form, func(p string) string {
		name := p[len("{field:") : len(p)-1]
		for _, fl := range ft.fields {
			if fl.Name == name {
				return url.QueryEscape(fl.Value)
			}
		}
		return ""
	})
}
