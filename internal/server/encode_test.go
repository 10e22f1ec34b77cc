package server

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/resguardo/resguardo"
	"golang.org/x/text/unicode/norm"
)

type decodeTarget struct {
	Name  string   `json:"name"`
	Tags  []string `json:"tags"`
	Inner *struct {
		City string `json:"city"`
	} `json:"inner"`
}

func decodeString(body string) (decodeTarget, error) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	var dst decodeTarget
	err := decodeJSON(r, &dst)
	return dst, err
}

func TestDecodeJSONNormalisesText(t *testing.T) {
	// "José" with a combining acute accent (NFD) becomes the NFC form.
	got, err := decodeString(`{"name":"Jose\u0301","tags":["Mu\u0308nchen"],"inner":{"city":"Ca\u0301diz"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "José" || got.Tags[0] != "München" || got.Inner.City != "Cádiz" {
		t.Errorf("not NFC-normalised: %+v", got)
	}
	for _, bad := range []string{`{"name":"\u202eevil"}`, `{"name":"a\u200bb"}`, `{"name":"a\nb"}`, `{"tags":["ok","a\u001bb"]}`, `{"inner":{"city":"x\u007f"}}`} {
		_, err := decodeString(bad)
		if resguardo.ErrorCode(err) != resguardo.EInvalid || len(resguardo.ErrorFields(err)) != 1 {
			t.Errorf("decode %s = %v, want one invalid field", bad, err)
		}
	}
}

// FuzzDecodeJSON: the decoder never panics, and whatever it accepts holds
// only NFC text without control characters.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"x"}`, `{"tags":["a","b"]}`, `{"inner":{"city":"Cádiz"}}`, `{}{}`, `{"name":1}`, `[`, `{"zz":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, err := decodeString(body)
		if err != nil {
			if resguardo.ErrorCode(err) == resguardo.EInternal {
				t.Fatalf("internal error for client input: %v", err)
			}
			return
		}
		all := append([]string{got.Name}, got.Tags...)
		if got.Inner != nil {
			all = append(all, got.Inner.City)
		}
		for _, s := range all {
			if strings.ContainsFunc(s, resguardo.ForbiddenInText) || !norm.NFC.IsNormalString(s) {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}

func TestJSONTooDeep(t *testing.T) {
	for _, tc := range []struct {
		body string
		deep bool
	}{
		{`{"a":[1,{"b":2}]}`, false},
		{strings.Repeat("[", 16) + strings.Repeat("]", 16), false},
		{strings.Repeat("[", 17) + strings.Repeat("]", 17), true},
		{`{"a":"` + strings.Repeat("[", 40) + `"}`, false},     // brackets in a string
		{`{"a":"\"` + strings.Repeat("{", 40) + `\\"}`, false}, // escaped quotes
		{`{"a":"\\"` + `,"b":` + strings.Repeat("[", 20) + `1` + strings.Repeat("]", 20) + `}`, true},
	} {
		if got := jsonTooDeep([]byte(tc.body), maxJSONDepth); got != tc.deep {
			t.Errorf("jsonTooDeep(%.60s) = %v, want %v", tc.body, got, tc.deep)
		}
	}
}

// A deeply nested body is refused before the schema validator, whose time
// grows with the square of the depth: a body at the 10,000 levels that
// json.Valid allows took over ten seconds of CPU. Found by TestRequestFuzz.
func TestAPIRefusesDeeplyNestedBody(t *testing.T) {
	ts := newTestServer(t)
	tk := ts.signUp(t, "nested@example.com", "Nested")
	n := 9000
	body := `{"number":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
	resp := ts.do(t, ts.site, "POST", "/api/v1/me/phones", strings.NewReader(body),
		"Content-Type", "application/json", "Authorization", "Bearer "+tk.AccessToken)
	if p := resp.problem(t); resp.StatusCode != 400 || !strings.Contains(p.Detail, "too deeply") {
		t.Errorf("deeply nested body: %d %+v, want 400 naming the nesting", resp.StatusCode, p)
	}
}
