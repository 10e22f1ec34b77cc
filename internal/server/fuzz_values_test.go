package server

import (
	"encoding/json"
	"strings"
)

// The request fuzzer's values. Each is a category (what it tries) with the
// value as a raw JSON fragment (for API bodies: invalid UTF-8 and lone
// surrogates must be written by hand, since encoding/json would repair
// them) and as a raw form value (bytes, URL-encoded when sent).

// fuzzValue is one value to put in one field.
type fuzzValue struct {
	Cat  string // malformed, oversized, wrong-type, unicode, injection, missing
	JSON string // raw JSON fragment; "" for "missing"
	Form string // raw bytes of a form value
	Note string // what it is, for the failure message
}

// str makes a value that is the string s in both encodings.
func str(cat, note, s string) fuzzValue {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return fuzzValue{Cat: cat, JSON: string(b), Form: s, Note: note}
}

// rawJSON makes a value whose JSON fragment is given as is; form is its
// form counterpart.
func rawJSON(cat, note, fragment, form string) fuzzValue {
	return fuzzValue{Cat: cat, JSON: fragment, Form: form, Note: note}
}

// fieldKind guesses what a field holds from its name and (forms) type, so
// that "malformed" means something for it.
func fieldKind(name, typ string) string {
	n := strings.ToLower(name)
	switch {
	case strings.Contains(n, "email") || typ == "email":
		return "email"
	case strings.Contains(n, "password") || typ == "password":
		return "password"
	case n == "number" || typ == "tel":
		return "phone"
	case n == "country":
		return "country"
	case n == "code" || strings.HasSuffix(n, "_code") && n != "postal_code":
		return "code"
	case strings.Contains(n, "token"):
		return "token"
	case n == "id" || strings.HasSuffix(n, "_id"):
		return "id"
	case n == "before" || n == "limit" || typ == "number":
		return "integer"
	}
	return "text"
}

// malformed returns wrong-format values for a kind of field.
func malformed(kind string) []fuzzValue {
	m := func(note, s string) fuzzValue { return str("malformed", note, s) }
	switch kind {
	case "email":
		// The first three are the inputs of issue 13's finding 4.
		return []fuzzValue{m("space inside", "a b@example.com"), m("quote alone", "'"), m("empty", ""),
			m("no domain", "a@"), m("no local part", "@example.com"), m("two @", "a@b@example.com"),
			m("full-width @", "a\uff20example.com"), m("dot first", ".a@example.com"), m("double dot", "a@example..com"),
			m("IP literal", "a@[127.0.0.1]"), m("quoted local part", `"a b"@example.com`), m("only spaces", "   "),
			m("local part of 65", strings.Repeat("a", 65)+"@example.com"), m("trailing dot", "a@example.com."),
			m("comment", "a(c)@example.com"), m("percent", "a%b@example.com")}
	case "password":
		return []fuzzValue{m("too short", "short"), m("empty", ""), m("common", "password1234"),
			m("129 characters", strings.Repeat("p", 129)), m("spaces only", strings.Repeat(" ", 12))}
	case "phone":
		return []fuzzValue{m("too short", "12"), m("plus alone", "+"), m("letters", "+34 abc def"), m("two plus", "++34600000000"),
			m("leading zero country", "+0600000000"), m("full-width digits", "\uff16\uff10\uff10\uff11\uff12\uff13\uff14\uff15\uff16"),
			m("empty", ""), m("too long", "+34"+strings.Repeat("6", 20)), m("exponent", "1e9")}
	case "country":
		return []fuzzValue{m("three letters", "ESP"), m("digit", "1A"), m("unknown", "ZZ"), m("trailing space", "es "),
			m("empty", ""), m("non-ASCII letters", "\u00c9S")}
	case "code":
		return []fuzzValue{m("letters", "abcdef"), m("five digits", "12345"), m("seven digits", "1234567"),
			m("full-width digits", "\uff10\uff10\uff10\uff10\uff10\uff10"), m("empty", ""), m("negative", "-12345")}
	case "token":
		return []fuzzValue{m("punctuation", "!!!!"), m("one character", "a"), m("empty", ""),
			m("lower case base32", strings.Repeat("a", 26)), m("base64", "aGVsbG8gd29ybGQ=")}
	case "id":
		return []fuzzValue{m("lower case", strings.Repeat("a", 26)), m("too short", "ABC"), m("empty", ""),
			m("digits 0 and 1", strings.Repeat("01", 13)), m("another's id", strings.Repeat("A", 26))}
	case "integer":
		return []fuzzValue{m("letters", "abc"), m("negative", "-1"), m("zero", "0"), m("huge", "99999999999999999999999"),
			m("float", "1.5"), m("exponent", "1e309"), m("empty", "")}
	}
	return []fuzzValue{m("empty", ""), m("spaces only", "   "), m("single character", "x")}
}

// oversized returns values past maxLength (0: unknown) and past 64 KiB.
func oversized(maxLength int) []fuzzValue {
	if maxLength <= 0 {
		maxLength = 1024
	}
	return []fuzzValue{
		str("oversized", "maxLength+1", strings.Repeat("a", maxLength+1)),
		str("oversized", "multi-byte past maxLength", strings.Repeat("\u00e9", maxLength+1)),
		str("oversized", "past 64 KiB", strings.Repeat("b", 70<<10)),
	}
}

// wrongType returns JSON values of every type but string.
func wrongType() []fuzzValue {
	return []fuzzValue{
		rawJSON("wrong-type", "number", "12345", "12345"),
		rawJSON("wrong-type", "float", "-1.5e300", "-1.5e300"),
		rawJSON("wrong-type", "object", `{"a":"b"}`, "[object Object]"),
		rawJSON("wrong-type", "array", `["a",1]`, "a,1"),
		rawJSON("wrong-type", "null", "null", "null"),
		rawJSON("wrong-type", "true", "true", "true"),
		rawJSON("wrong-type", "false", "false", "false"),
	}
}

// unicodeEdges returns strings at the edges of Unicode and UTF-8.
func unicodeEdges() []fuzzValue {
	u := func(note, s string) fuzzValue { return str("unicode", note, s) }
	return []fuzzValue{
		u("NUL", "a\x00b"),
		u("control characters", "a\x01\x07\x1b[31mb"),
		u("tab and newline", "a\tb\nc"),
		u("U+2028 line separator", "a\u2028b"),
		u("U+2029 paragraph separator", "a\u2029b"),
		u("bidi override", "a\u202egnp.exe"),
		u("bidi isolate", "\u2066a\u2069"),
		u("zero-width joiner and BOM", "a\u200d\ufeffb"),
		u("combining sequence", "e\u0301\u0301\u0301\u0301"),
		u("NFD", "Jose\u0301 Mari\u0301a"),
		u("NFC", "Jos\u00e9 Mar\u00eda"),
		u("full-width @", "a\uff20example.com"),
		u("emoji", "\U0001F600\U0001F469\u200d\U0001F4BB"),
		u("non-character", "a\uffffb"),
		u("private use", "\ue000"),
		u("C1 control", "a\u0085b"),
		rawJSON("unicode", "lone high surrogate (escaped)", `"a\ud800b"`, "a\xed\xa0\x80b"),
		rawJSON("unicode", "lone low surrogate (escaped)", `"\udc00"`, "\xed\xb0\x80"),
		rawJSON("unicode", "escaped NUL", `"a\u0000b"`, "a\x00b"),
		rawJSON("unicode", "invalid UTF-8 bytes", "\"a\xff\xfeb\"", "a\xff\xfeb"),
		rawJSON("unicode", "overlong encoding", "\"\xc0\xaf\"", "\xc0\xaf"),
		rawJSON("unicode", "truncated sequence", "\"a\xe2\x82\"", "a\xe2\x82"),
	}
}

// injections returns strings aimed at SQL, templates, markup, paths and
// headers. None may do anything but be refused or stored as text.
func injections() []fuzzValue {
	i := func(note, s string) fuzzValue { return str("injection", note, s) }
	return []fuzzValue{
		i("SQL tautology", "' OR 1=1--"),
		i("SQL statement", `"; DROP TABLE customers; --`),
		i("SQL union", "x' UNION SELECT password_hash FROM customers--"),
		i("SQL sleep", "1' AND SLEEP(5)#"),
		i("template", "{{.}}"),
		i("template call", `{{template "layout" .}}`),
		i("script", "<script>alert(1)</script>"),
		i("attribute break", `"><img src=x onerror=alert(1)>`),
		i("path traversal", "../../../../etc/passwd"),
		i("encoded traversal", "..%2f..%2fetc%2fpasswd"),
		i("CRLF header", "a\r\nSet-Cookie: session=x"),
		i("percent-encoded NUL", "%00"),
		i("format verbs", "%s%s%s%n%x"),
		i("URL with scheme", "javascript:alert(1)"),
		i("LDAP and shell", "*)(uid=*))(|(uid=*;$(id)`id`"),
	}
}

// valuesFor returns every fuzz value for a field: kind from fieldKind,
// maxLength from the schema or the form (0 when unknown).
func valuesFor(kind string, maxLength int, json bool) []fuzzValue {
	var out []fuzzValue
	out = append(out, malformed(kind)...)
	out = append(out, oversized(maxLength)...)
	if json {
		out = append(out, wrongType()...)
	}
	out = append(out, unicodeEdges()...)
	out = append(out, injections()...)
	out = append(out, fuzzValue{Cat: "missing", Note: "field left out"})
	return out
}
