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
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/resguardo/resguardo"
)

// openapiJSON is the API contract, served as is at /api/v1/openapi.json and
// enforced on every /api/v1 request.
//
//go:embed openapi.json
var openapiJSON []byte

type apiValidator struct {
	raw    []byte
	doc    *openapi3.T
	router routers.Router
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
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi router: %w", err)
	}
	return &apiValidator{raw: raw, doc: doc, router: router}, nil
}

// validate checks r against the operation the document declares for it:
// content type (415), size (413), parameters and body (400). The body is
// read once and put back for the handler.
func (v *apiValidator) validate(r *http.Request) (*http.Request, error) {
	route, params, err := v.router.FindRoute(r)
	if err != nil {
		// The route table has this route and the document does not: refuse
		// rather than serve an undocumented, unvalidated operation.
		return nil, resguardo.Errorf(resguardo.ENotFound, "There is nothing at this address.")
	}
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
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
	in := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			MultiError: true,
			// Authentication is the route policy's job, done before this.
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		},
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
