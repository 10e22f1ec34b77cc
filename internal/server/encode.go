package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/resguardo/resguardo"
	"golang.org/x/text/unicode/norm"
)

// maxBodyBytes bounds every request body (docs/contract.md §2: 64 KiB).
const maxBodyBytes = 64 << 10

// maxJSONDepth bounds the nesting of arrays and objects in a request body.
// No request of the API nests deeper than 2; the bound is what keeps the
// schema validator, whose cost grows with the square of the depth, from
// spending over ten seconds of CPU on one 20 KB body of brackets (at the
// 10,000 levels json.Valid allows).
const maxJSONDepth = 16

// jsonTooDeep reports whether the JSON text b nests arrays and objects
// deeper than max. It only counts brackets outside strings; b is already
// known to be valid JSON.
func jsonTooDeep(b []byte, max int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > max {
				return true
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return false
}

// writeJSON writes v as JSON with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// checkJSONContentType accepts application/json with no charset other than
// UTF-8; anything else is 415.
func checkJSONContentType(r *http.Request) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return resguardo.Errorf(resguardo.EUnsupportedMedia, "Send the request body as application/json.")
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return resguardo.Errorf(resguardo.EUnsupportedMedia, "Send the request body as application/json in UTF-8.")
		}
	}
	return nil
}

// readBody reads the whole (already size-limited) body, mapping an
// over-limit body to 413.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, resguardo.Errorf(resguardo.ETooLarge, "The request body is larger than %d bytes.", mbe.Limit)
		}
		return nil, resguardo.Errorf(resguardo.EInvalid, "The request body could not be read.")
	}
	return b, nil
}

// decodeJSON decodes exactly one JSON value from the request body into dst,
// strictly: JSON content type, size limit, unknown fields rejected, nothing
// after the value. Every string in dst is then NFC-normalised, and strings
// holding control characters are rejected. dst must be a pointer to a struct.
func decodeJSON(r *http.Request, dst any) error {
	if err := checkJSONContentType(r); err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return resguardo.Errorf(resguardo.EInvalid, "The request body must hold exactly one JSON value.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return resguardo.Errorf(resguardo.EInvalid, "The request body must hold exactly one JSON value.")
	}
	if fields := cleanStrings(reflect.ValueOf(dst), ""); len(fields) > 0 {
		return &resguardo.Error{Code: resguardo.EInvalid, Message: "Some fields hold control characters.", Fields: fields}
	}
	return nil
}

// decodeError turns a json error into a client-safe message that names the
// field but never echoes the submitted value.
func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return resguardo.Errorf(resguardo.EInvalid, "The request body is not valid JSON.")
	case errors.As(err, &typ):
		return &resguardo.Error{Code: resguardo.EInvalid, Message: "A field has the wrong type.",
			Fields: []resguardo.FieldProblem{{Field: typ.Field, Detail: "must be " + typ.Type.Kind().String()}}}
	case errors.Is(err, io.EOF):
		return resguardo.Errorf(resguardo.EInvalid, "The request body is empty.")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &resguardo.Error{Code: resguardo.EInvalid, Message: "The request body has a field this API does not know.",
			Fields: []resguardo.FieldProblem{{Field: name, Detail: "unknown field"}}}
	default:
		return resguardo.Errorf(resguardo.EInvalid, "The request body could not be decoded.")
	}
}

// cleanStrings walks v, NFC-normalises every settable string and returns a
// problem for each string with a control character (tab and newline
// included: no API field is multi-line).
func cleanStrings(v reflect.Value, path string) []resguardo.FieldProblem {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return cleanStrings(v.Elem(), path)
	case reflect.Struct:
		var out []resguardo.FieldProblem
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			if name == "" {
				name = f.Name
			}
			out = append(out, cleanStrings(v.Field(i), joinPath(path, name))...)
		}
		return out
	case reflect.Slice, reflect.Array:
		var out []resguardo.FieldProblem
		for i := range v.Len() {
			out = append(out, cleanStrings(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	case reflect.String:
		s := v.String()
		if strings.ContainsFunc(s, resguardo.ForbiddenInText) {
			return []resguardo.FieldProblem{{Field: path, Detail: "must not contain control or invisible formatting characters"}}
		}
		if v.CanSet() {
			v.SetString(norm.NFC.String(s))
		}
	}
	return nil
}

func joinPath(base, name string) string {
	if base == "" {
		return name
	}
	return base + "." + name
}
