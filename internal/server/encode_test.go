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
