package server

import (
	"html"
	"strconv"
	"strings"
)

// A small, careful HTML tokenizer for the request fuzzer: it finds the
// <form> elements of a page with their fields, and the local links. It is
// not a general HTML parser (golang.org/x/net/html is not a dependency of
// the module), but it reads what html/template produces: quoted or
// unquoted attributes, entities, comments, and <script>/<style>/<textarea>
// contents, which are text and never tags.

// htmlForm is one <form> of a page.
type htmlForm struct {
	Method, Action string
	Fields         []htmlField
}

// htmlField is one named control of a form.
type htmlField struct {
	Name, Type, Value string
	Options           []string // <select> values, in order
	MaxLength         int      // 0 when not declared
	Required          bool
}

// htmlTag is a start or end tag.
type htmlTag struct {
	Name  string // lower case; "/form" for an end tag
	Attrs map[string]string
}

// scanHTML calls fn for each tag of doc, and text for the text of
// <textarea> and <option> elements (the only text the fuzzer needs).
func scanHTML(doc string, fn func(tag htmlTag, text string)) {
	i := 0
	for i < len(doc) {
		lt := strings.IndexByte(doc[i:], '<')
		if lt < 0 {
			return
		}
		i += lt
		if strings.HasPrefix(doc[i:], "<!--") {
			end := strings.Index(doc[i+4:], "-->")
			if end < 0 {
				return
			}
			i += 4 + end + 3
			continue
		}
		if strings.HasPrefix(doc[i:], "<!") || strings.HasPrefix(doc[i:], "<?") {
			end := strings.IndexByte(doc[i:], '>')
			if end < 0 {
				return
			}
			i += end + 1
			continue
		}
		tag, next := readTag(doc, i+1)
		if tag.Name == "" {
			i++
			continue
		}
		i = next
		text := ""
		switch tag.Name {
		case "script", "style", "textarea", "title":
			// Raw text up to the matching end tag: never tags.
			end := strings.Index(strings.ToLower(doc[i:]), "</"+tag.Name)
			if end < 0 {
				end = len(doc) - i
			}
			text = html.UnescapeString(doc[i : i+end])
			i += end
		case "option":
			end := strings.IndexByte(doc[i:], '<')
			if end < 0 {
				end = len(doc) - i
			}
			text = strings.TrimSpace(html.UnescapeString(doc[i : i+end]))
		}
		fn(tag, text)
	}
}

// readTag reads a tag starting after its '<' and returns it with the index
// after its '>'. An unreadable tag has an empty name.
func readTag(doc string, i int) (htmlTag, int) {
	start := i
	end := false
	if i < len(doc) && doc[i] == '/' {
		end = true
		i++
	}
	j := i
	for j < len(doc) && (isASCIILetter(doc[j]) || (j > i && doc[j] >= '0' && doc[j] <= '9')) {
		j++
	}
	if j == i {
		return htmlTag{}, start
	}
	tag := htmlTag{Name: strings.ToLower(doc[i:j]), Attrs: map[string]string{}}
	if end {
		tag.Name = "/" + tag.Name
	}
	i = j
	for i < len(doc) {
		for i < len(doc) && isHTMLSpace(doc[i]) {
			i++
		}
		if i >= len(doc) {
			break
		}
		if doc[i] == '>' {
			return tag, i + 1
		}
		if doc[i] == '/' {
			i++
			continue
		}
		k := i
		for k < len(doc) && !isHTMLSpace(doc[k]) && doc[k] != '=' && doc[k] != '>' && doc[k] != '/' {
			k++
		}
		name := strings.ToLower(doc[i:k])
		i = k
		for i < len(doc) && isHTMLSpace(doc[i]) {
			i++
		}
		value := ""
		if i < len(doc) && doc[i] == '=' {
			i++
			for i < len(doc) && isHTMLSpace(doc[i]) {
				i++
			}
			if i < len(doc) && (doc[i] == '"' || doc[i] == '\'') {
				q := doc[i]
				e := strings.IndexByte(doc[i+1:], q)
				if e < 0 {
					return htmlTag{}, start
				}
				value = doc[i+1 : i+1+e]
				i += e + 2
			} else {
				k := i
				for k < len(doc) && !isHTMLSpace(doc[k]) && doc[k] != '>' {
					k++
				}
				value = doc[i:k]
				i = k
			}
		}
		if name != "" {
			if _, dup := tag.Attrs[name]; !dup { // the first wins, as in browsers
				tag.Attrs[name] = html.UnescapeString(value)
			}
		}
	}
	return htmlTag{}, start
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isHTMLSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

// parseForms returns the forms of a page and its local links (paths
// starting with a single '/').
func parseForms(doc string) (forms []htmlForm, links []string) {
	var cur *htmlForm
	var sel *htmlField
	scanHTML(doc, func(tag htmlTag, text string) {
		a := tag.Attrs
		switch tag.Name {
		case "a":
			if h := a["href"]; strings.HasPrefix(h, "/") && !strings.HasPrefix(h, "//") {
				links = append(links, h)
			}
		case "form":
			forms = append(forms, htmlForm{Method: strings.ToUpper(a["method"]), Action: a["action"]})
			cur = &forms[len(forms)-1]
			if cur.Method == "" {
				cur.Method = "GET"
			}
		case "/form":
			cur, sel = nil, nil
		case "input", "textarea", "select", "button":
			if cur == nil || a["name"] == "" {
				return
			}
			typ := strings.ToLower(a["type"])
			if tag.Name != "input" {
				typ = tag.Name
			}
			if typ == "" {
				typ = "text"
			}
			if tag.Name == "button" && strings.ToLower(a["type"]) != "" && strings.ToLower(a["type"]) != "submit" {
				return
			}
			f := htmlField{Name: a["name"], Type: typ, Value: a["value"]}
			if tag.Name == "textarea" {
				f.Value = text
			}
			if n, err := strconv.Atoi(a["maxlength"]); err == nil {
				f.MaxLength = n
			}
			_, f.Required = a["required"]
			if (typ == "checkbox" || typ == "radio") && f.Value == "" {
				f.Value = "on"
			}
			cur.Fields = append(cur.Fields, f)
			sel = nil
			if tag.Name == "select" {
				sel = &cur.Fields[len(cur.Fields)-1]
			}
		case "/select":
			sel = nil
		case "option":
			if sel != nil {
				v, ok := a["value"]
				if !ok {
					v = text
				}
				sel.Options = append(sel.Options, v)
				if _, selected := a["selected"]; selected || sel.Value == "" {
					if selected || len(sel.Options) == 1 {
						sel.Value = v
					}
				}
			}
		}
	})
	return forms, links
}
