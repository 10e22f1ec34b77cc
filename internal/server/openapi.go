package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	_ "embed"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/resguardo/resguardo"
)

// openapiJSON is the API contract, served as is at /api/v1/openapi.json and
// enforced on every /api/v1 request.
//
//go:embed openapi.json
var openapiJSON []byte

// apiValidator enforces the OpenAPI document on every /api/v1 request. The
// operation of each route is found once, at start: per request there is a
// lookup by the pattern the ServeMux matched, not a search over the paths.
type apiValidator struct {
	raw []byte
	doc *openapi3.T
	// ops maps a route pattern ("GET /api/v1/me/phones/{id}") to its
	// operation, filled by compile for every /api/v1 row of the table.
	ops map[string]*apiOperation
}

// apiOperation is one documented operation, ready for the request
// validator.
type apiOperation struct {
	route  routers.Route // what openapi3filter reads: document, path item, operation
	method string
	// params are the path template's parameter names, read from the
	// request with PathValue.
	params []string
	// declares is false when the operation has no parameters and no request
	// body: the library's validator then has nothing to check (security is
	// the route policy's job), so it is skipped for a request that carries
	// neither a body nor a query.
	declares bool
}

var validateOptions = &openapi3filter.Options{
	MultiError: true,
	// Authentication is the route policy's job, done before this.
	AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
}

func newAPIValidator(raw []byte) (*apiValidator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi document is invalid: %w", err)
	}
	return &apiValidator{raw: raw, doc: doc, ops: map[string]*apiOperation{}}, nil
}

// isAPIPattern reports whether a route pattern ("METHOD /path") is under
// /api/v1 and so must have a documented operation.
func isAPIPattern(pattern string) bool {
	_, path, _ := strings.Cut(pattern, " ")
	return strings.HasPrefix(path, "/api/v1/")
}

// compile finds the operation the document declares for an /api/v1 route
// pattern. ServeMux patterns and OpenAPI paths write parameters the same
// way ({name}), so the path is looked up as it is. A route the document
// does not describe is an error: the server does not start rather than
// serve an undocumented, unvalidated operation.
func (v *apiValidator) compile(pattern string) (*apiOperation, error) {
	if op, ok := v.ops[pattern]; ok {
		return op, nil // the same pattern on both listeners
	}
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		return nil, fmt.Errorf("route %q has no method", pattern)
	}
	item := v.doc.Paths.Value(path)
	if item == nil {
		return nil, fmt.Errorf("route %q: the OpenAPI document has no path %s", pattern, path)
	}
	operation := item.GetOperation(method)
	if operation == nil {
		return nil, fmt.Errorf("route %q: the OpenAPI document has no %s operation on %s", pattern, method, path)
	}
	op := &apiOperation{
		route:  routers.Route{Spec: v.doc, Path: path, PathItem: item, Method: method, Operation: operation},
		method: method,
	}
	for _, seg := range strings.Split(path, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			op.params = append(op.params, strings.TrimSuffix(name, "}"))
		}
	}
	op.declares = len(item.Parameters) > 0 || len(operation.Parameters) > 0 || operation.RequestBody != nil ||
		!v.securityDeclared(operation)
	v.ops[pattern] = op
	return op, nil
}

// securityDeclared reports whether every security scheme the operation
// requires is declared, so that the validator's security step (with the
// no-op authentication function) cannot fail. If one is not, the
// validator runs on every request, as it always did.
func (v *apiValidator) securityDeclared(operation *openapi3.Operation) bool {
	security := &v.doc.Security
	if operation.Security != nil {
		security = operation.Security
	}
	for _, req := range *security {
		for name := range req {
			if v.doc.Components == nil || v.doc.Components.SecuritySchemes[name] == nil {
				return false
			}
		}
	}
	return true
}

// validate checks r against op, the operation the document declares for
// its route: content type (415), size (413), parameters and body (400).
// The body is read once and put back for the handler.
func (v *apiValidator) validate(r *http.Request, op *apiOperation) (*http.Request, error) {
	if r.Method != op.method {
		// HEAD on a GET route: the ServeMux matches it, the document does
		// not declare it.
		return nil, resguardo.Errorf(resguardo.ENotFound, "There is nothing at this address.")
	}
	hasBody := r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
	if hasBody {
		if err := checkJSONContentType(r); err != nil {
			return nil, err
		}
		body, err := readBody(r)
		if err != nil {
			return nil, err
		}
		// json.Valid also refuses a second value after the first, which the
		// schema validator would silently ignore.
		if !json.Valid(body) {
			return nil, resguardo.Errorf(resguardo.EInvalid, "The request body must be exactly one valid JSON value.")
		}
		// Before the schema validator, whose time grows with the square of
		// the nesting depth (10,000 levels of brackets took over ten seconds).
		if jsonTooDeep(body, maxJSONDepth) {
			return nil, resguardo.Errorf(resguardo.EInvalid, "The request body nests arrays or objects too deeply.")
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		defer func() { r.Body = io.NopCloser(bytes.NewReader(body)) }()
	}
	if !op.declares && !hasBody && r.URL.RawQuery == "" {
		return r, nil // nothing the library could check
	}
	var params map[string]string
	if len(op.params) > 0 {
		params = make(map[string]string, len(op.params))
		for _, name := range op.params {
			params[name] = r.PathValue(name)
		}
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      &op.route,
		Options:    validateOptions,
	}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		return nil, &resguardo.Error{
			Code:    resguardo.EInvalid,
			Message: "The request does not match the API description (see /api/v1/openapi.json).",
			Fields:  fieldProblems(err),
			Err:     err,
		}
	}
	return r, nil
}

// fieldProblems names the failing fields and rules of a validation error.
// The library's own messages can quote the submitted value (a password, an
// address), so only the location and the rule's keyword are kept.
func fieldProblems(err error) []resguardo.FieldProblem {
	seen := map[resguardo.FieldProblem]bool{}
	var walk func(err error, param string)
	walk = func(err error, param string) {
		var me openapi3.MultiError
		var re *openapi3filter.RequestError
		var se *openapi3.SchemaError
		switch {
		case errors.As(err, &me):
			for _, e := range me {
				walk(e, param)
			}
		case errors.As(err, &re):
			p := param
			if re.Parameter != nil {
				p = re.Parameter.Name
			}
			if re.Err == nil {
				seen[resguardo.FieldProblem{Field: p, Detail: "is missing or invalid"}] = true
				return
			}
			walk(re.Err, p)
		case errors.As(err, &se):
			field := strings.Join(se.JSONPointer(), ".")
			if param != "" {
				field = strings.TrimSuffix(param+"."+field, ".")
			}
			detail := "violates the schema"
			if se.SchemaField != "" {
				detail = "violates the schema's " + se.SchemaField + " rule"
			}
			seen[resguardo.FieldProblem{Field: field, Detail: detail}] = true
		default:
			seen[resguardo.FieldProblem{Field: param, Detail: "is invalid"}] = true
		}
	}
	walk(err, "")
	out := make([]resguardo.FieldProblem, 0, len(seen))
	for fp := range seen {
		out = append(out, fp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Field+out[i].Detail < out[j].Field+out[j].Detail })
	return out
}

func (s *Server) handleOpenAPI() handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/json")
		// The document is public and changes only with a release.
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, err := w.Write(s.api.raw)
		return err
	}
}
