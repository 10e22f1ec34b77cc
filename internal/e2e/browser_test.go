package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// The tests below prove that the browser enforces the page CSP, not merely
// that the server sends it: a script that reaches the page without the
// response's nonce must not run. Every refusal is paired with a control that
// runs the same script where it should run, so a probe that silently never
// works cannot pass for a policy that blocks.

// payload is the stand-in for markup that got past output escaping.
const payload = `<script>window.__pwned=1</script>`

// inlineScriptRefusal matches Chromium's console report of a blocked inline
// script. The wording changed across releases ("Refused to execute inline
// script because it violates ..." before, "Executing inline script violates
// ... The action has been blocked." since), so only the stable parts count.
func inlineScriptRefusal(m chromedp.ConsoleMessage) bool {
	text := strings.ToLower(m.Text)
	return m.Type == chromedp.ConsoleError &&
		strings.Contains(text, "inline script") && strings.Contains(text, "content security policy")
}

// violationRecorder runs in every document before the page's own markup.
// DevTools init scripts are exempt from the page's CSP, so it can keep the
// securitypolicyviolation events the browser fires even where page scripts
// cannot run.
const violationRecorder = `
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
	window.__cspViolations.push({directive: e.effectiveDirective, blocked: e.blockedURI, disposition: e.disposition});
}, true);`

// probeJS reads the page state the tests assert on. It runs through
// Runtime.evaluate, which the page's CSP does not govern.
const probeJS = `({
	pwned: window.__pwned === undefined ? null : window.__pwned,
	h1: document.querySelector('main h1')?.textContent.trim() ?? '',
	styleSheets: Array.from(document.styleSheets, (s) => ({href: s.href, rules: s.cssRules.length})),
	bodyMargin: getComputedStyle(document.body).marginTop,
	violations: window.__cspViolations ?? [],
})`

// insertScriptJS adds an inline script to the live DOM, as a DOM-based XSS
// would, and reports whether it ran (inserted scripts run synchronously).
const insertScriptJS = `(() => {
	const s = document.createElement('script');
	s.textContent = 'window.__pwned = 1';
	document.head.append(s);
	return window.__pwned === 1;
})()`

type violation struct {
	Directive   string `json:"directive"`
	Blocked     string `json:"blocked"`
	Disposition string `json:"disposition"`
}

type styleSheet struct {
	Href  string `json:"href"`
	Rules int    `json:"rules"`
}

// pageState is what probeJS returns.
type pageState struct {
	Pwned       *int         `json:"pwned"` // nil unless a probe script ran
	H1          string       `json:"h1"`
	StyleSheets []styleSheet `json:"styleSheets"`
	BodyMargin  string       `json:"bodyMargin"`
	Violations  []violation  `json:"violations"`
}

// pwned describes window.__pwned for failure messages.
func (s pageState) pwned() string {
	if s.Pwned == nil {
		return "undefined"
	}
	return strconv.Itoa(*s.Pwned)
}

func TestCSPBlocksInjectedInlineScript(t *testing.T) {
	srv, browser := setup(t)
	home := srv.SiteURL + "/"
	injectPayload := func(string) string { return payload }

	t.Run("policy blocks injected script", func(t *testing.T) {
		v := open(t, browser, home, &tamper{inject: injectPayload})
		requirePageCSP(t, v.serverCSP)
		// The injected script is parser-inserted, so by the load event it
		// has either run or been refused.
		st := probe(t, v.tab)
		if st.Pwned != nil {
			t.Fatalf("injected script ran under the server's CSP: window.__pwned = %s", st.pwned())
		}
		requireOnlyInlineScriptViolations(t, awaitViolations(t, v.tab))
		v.console.await(t, "inline script refusal", inlineScriptRefusal)
		checkRendered(t, probe(t, v.tab), srv.SiteURL)
	})

	// Control: the same injection, same headers minus the CSP, must run. If
	// it does not, the probe is broken and the case above proves nothing;
	// it is also exactly what the case above would see if the server
	// stopped sending the policy.
	t.Run("control: script runs without the policy", func(t *testing.T) {
		v := open(t, browser, home, &tamper{inject: injectPayload, stripCSP: true})
		st := probe(t, v.tab)
		if st.Pwned == nil || *st.Pwned != 1 {
			t.Fatalf("injected script did not run without a CSP (window.__pwned = %s): the probe is broken", st.pwned())
		}
		if len(st.Violations) > 0 {
			t.Errorf("CSP violations without a CSP: %+v", st.Violations)
		}
		checkRendered(t, st, srv.SiteURL)
	})

	// Control: a script carrying the response's own nonce must run under
	// the policy, so the refusal above is the nonce doing its job and not,
	// say, a policy the browser could not parse blocking everything.
	t.Run("control: script with the server nonce runs", func(t *testing.T) {
		v := open(t, browser, home, &tamper{inject: func(csp string) string {
			return `<script nonce="` + nonceOf(csp) + `">window.__pwned=1</script>`
		}})
		requirePageCSP(t, v.serverCSP)
		st := probe(t, v.tab)
		if st.Pwned == nil || *st.Pwned != 1 {
			t.Fatalf("script with the response nonce did not run (window.__pwned = %s); CSP %q", st.pwned(), v.serverCSP)
		}
		if len(st.Violations) > 0 {
			t.Errorf("unexpected CSP violations: %+v", st.Violations)
		}
	})
}

func TestCSPBlocksRuntimeInsertedScript(t *testing.T) {
	srv, browser := setup(t)
	login := srv.StaffURL + "/login"

	t.Run("policy blocks inserted script", func(t *testing.T) {
		v := open(t, browser, login, nil) // the page exactly as served
		requirePageCSP(t, v.serverCSP)
		if insertScript(t, v.tab) {
			t.Fatal("script inserted at runtime ran under the server's CSP")
		}
		requireOnlyInlineScriptViolations(t, awaitViolations(t, v.tab))
		v.console.await(t, "inline script refusal", inlineScriptRefusal)
		checkRendered(t, probe(t, v.tab), srv.StaffURL)
	})

	t.Run("control: inserted script runs without the policy", func(t *testing.T) {
		v := open(t, browser, login, &tamper{stripCSP: true})
		if !insertScript(t, v.tab) {
			t.Fatal("script inserted at runtime did not run without a CSP: the probe is broken")
		}
	})
}

// tamper says how the response for the page is rewritten between server and
// browser.
type tamper struct {
	// inject, if set, returns markup to insert into the page body, given
	// the policy the server sent.
	inject func(serverCSP string) string
	// stripCSP drops the Content-Security-Policy header.
	stripCSP bool
}

// visit is one page load in its own tab.
type visit struct {
	tab       context.Context
	serverCSP string // the policy the server sent, whatever reached the browser
	console   *consoleLog
}

// open loads pageURL in a fresh tab with the violation recorder installed
// and, when tm is not nil, the response rewritten as tm says.
func open(t *testing.T, browser context.Context, pageURL string, tm *tamper) visit {
	t.Helper()
	tab := newTab(t, browser)
	ctx, cancel := context.WithTimeout(tab, timeout)
	defer cancel()

	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: violationRecorder})
	if err != nil {
		t.Fatalf("install violation recorder: %v", err)
	}
	v := visit{tab: tab, console: collectConsole(tab)}
	var intercepted <-chan interception
	if tm != nil {
		intercepted = intercept(t, ctx, pageURL, *tm)
	}
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(pageURL))
	if err != nil {
		t.Fatalf("load %s: %v", pageURL, err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("load %s: status %d", pageURL, resp.Status)
	}
	if intercepted == nil {
		v.serverCSP = headerValue(resp.Headers, "Content-Security-Policy")
		return v
	}
	select {
	case r := <-intercepted:
		if r.err != nil {
			t.Fatalf("rewrite %s: %v", pageURL, r.err)
		}
		v.serverCSP = r.serverCSP
	case <-ctx.Done():
		t.Fatalf("the response for %s was never intercepted", pageURL)
	}
	return v
}

// interception is the outcome of rewriting one response.
type interception struct {
	serverCSP string
	err       error
}

// intercept pauses the response to the document request for pageURL and
// fulfils it with the server's own status, headers and body, changed only as
// tm says. It handles that one response; the result arrives on the channel.
func intercept(t *testing.T, ctx context.Context, pageURL string, tm tamper) <-chan interception {
	t.Helper()
	// Subscribe before enabling, so the paused event cannot slip by.
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{
		URLPattern:   pageURL, // our URLs hold no wildcard characters
		ResourceType: network.ResourceTypeDocument,
		RequestStage: fetch.RequestStageResponse,
	}}})
	if err != nil {
		t.Fatalf("enable interception: %v", err)
	}
	out := make(chan interception, 1)
	go func() {
		for ev, err := range paused {
			if err != nil {
				out <- interception{err: err}
				return
			}
			out <- rewrite(ctx, ev, tm)
			return
		}
	}()
	return out
}

// rewrite fulfils one paused response. On failure it lets the response
// through untouched, so the test fails on the reported error rather than on
// a navigation that never ends.
func rewrite(ctx context.Context, ev fetch.EventRequestPaused, tm tamper) interception {
	var r interception
	r.err = func() error {
		if ev.ResponseErrorReason != "" {
			return fmt.Errorf("request failed: %s", ev.ResponseErrorReason)
		}
		body, err := chromedp.Call(ctx, fetch.GetResponseBody, fetch.GetResponseBodyParams{RequestID: ev.RequestID})
		if err != nil {
			return fmt.Errorf("read body: %w", err)
		}
		var headers []*fetch.HeaderEntry
		for _, h := range ev.ResponseHeaders {
			switch {
			case strings.EqualFold(h.Name, "Content-Security-Policy"):
				r.serverCSP = h.Value
				if tm.stripCSP {
					continue
				}
			case strings.EqualFold(h.Name, "Content-Length"), strings.EqualFold(h.Name, "Transfer-Encoding"):
				// They describe the original body's framing; the browser
				// frames the new body itself.
				continue
			}
			headers = append(headers, h)
		}
		html := body.Body
		if tm.inject != nil {
			if html, err = injectIntoMain(html, tm.inject(r.serverCSP)); err != nil {
				return err
			}
		}
		_, err = chromedp.Call(ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{
			RequestID:       ev.RequestID,
			ResponseCode:    ev.ResponseStatusCode,
			ResponsePhrase:  ev.ResponseStatusText,
			ResponseHeaders: headers,
			Body:            html,
		})
		return err
	}()
	if r.err != nil {
		_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
	}
	return r
}

// injectIntoMain puts markup at the end of the page's main content, where
// customer-supplied text would be rendered.
func injectIntoMain(html []byte, markup string) ([]byte, error) {
	anchor := []byte("</main>")
	if n := bytes.Count(html, anchor); n != 1 {
		return nil, fmt.Errorf("page has %d %s tags, want 1 to inject before", n, anchor)
	}
	return bytes.Replace(html, anchor, append([]byte(markup), anchor...), 1), nil
}

var nonceRE = regexp.MustCompile(`'nonce-([^']+)'`)

// nonceOf returns the script nonce of a CSP, or "" if it has none.
func nonceOf(csp string) string {
	if m := nonceRE.FindStringSubmatch(csp); m != nil {
		return m[1]
	}
	return ""
}

// requirePageCSP checks the server sent the nonce-based page policy, so that
// a blocked script is blocked by that policy and not by some other.
func requirePageCSP(t *testing.T, csp string) {
	t.Helper()
	if nonceOf(csp) == "" || !strings.Contains(csp, "script-src 'nonce-") || strings.Contains(csp, "unsafe-inline") {
		// Not fatal: the browser checks that follow must fail on their own
		// when the policy is missing, and they should be seen to.
		t.Errorf("server sent Content-Security-Policy %q, want a script-src with a nonce and no 'unsafe-inline'", csp)
	}
}

// requireOnlyInlineScriptViolations checks the browser refused an inline
// script, in enforce mode, and refused nothing else the page needs.
func requireOnlyInlineScriptViolations(t *testing.T, got []violation) {
	t.Helper()
	for _, v := range got {
		if !strings.HasPrefix(v.Directive, "script-src") || v.Blocked != "inline" || v.Disposition != "enforce" {
			t.Errorf("unexpected CSP violation %+v, want only enforced script-src refusals of inline scripts", v)
		}
	}
}

// checkRendered checks the legitimate page survived the policy: content
// present and the fingerprinted stylesheet loaded and applied.
func checkRendered(t *testing.T, st pageState, origin string) {
	t.Helper()
	if st.H1 == "" {
		t.Error("page has no h1 text")
	}
	hashed := regexp.MustCompile(`^` + regexp.QuoteMeta(origin) + `/static/app\.[0-9a-f]{12}\.css$`)
	loaded := false
	for _, s := range st.StyleSheets {
		if hashed.MatchString(s.Href) && s.Rules > 0 {
			loaded = true
		}
	}
	if !loaded {
		t.Errorf("fingerprinted app.css not loaded; stylesheets: %+v", st.StyleSheets)
	}
	// app.css resets the body margin; the browser default is 8px.
	if st.BodyMargin != "0px" {
		t.Errorf("body margin-top = %q, want 0px from app.css", st.BodyMargin)
	}
	for _, v := range st.Violations {
		if strings.HasPrefix(v.Directive, "style-src") {
			t.Errorf("stylesheet refused by CSP: %+v", v)
		}
	}
}

// probe reads the page state.
func probe(t *testing.T, tab context.Context) pageState {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, timeout)
	defer cancel()
	st, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](probeJS))
	if err != nil {
		t.Fatalf("probe page: %v", err)
	}
	return st
}

// insertScript runs insertScriptJS and reports whether the script ran.
func insertScript(t *testing.T, tab context.Context) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, timeout)
	defer cancel()
	ran, err := chromedp.Run(ctx, chromedp.Evaluate[bool](insertScriptJS))
	if err != nil {
		t.Fatalf("insert script: %v", err)
	}
	return ran
}

// awaitViolations waits for the browser to report a CSP violation and
// returns all it reported. The events are dispatched as tasks, so they can
// trail the load event and the refusal itself. It polls from Go rather than
// with chromedp.Poll, whose in-page helper builds its predicate with
// new Function: the page CSP (rightly) refuses that, and the refusal would
// add a violation of its own.
func awaitViolations(t *testing.T, tab context.Context) []violation {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, timeout)
	defer cancel()
	var got []violation
	err := eventually(ctx, func() (bool, error) {
		var err error
		got, err = chromedp.Run(ctx, chromedp.Evaluate[[]violation](`window.__cspViolations`))
		return len(got) > 0, err
	})
	if err != nil {
		t.Fatalf("waiting for a securitypolicyviolation event: %v", err)
	}
	return got
}

// consoleLog collects a tab's console and browser log, where Chromium
// explains every CSP refusal in words.
type consoleLog struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

// collectConsole starts collecting; it stops when the tab closes.
func collectConsole(tab context.Context) *consoleLog {
	c := &consoleLog{}
	msgs := chromedp.Console(tab) // subscribed from here on
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
	return c
}

// await waits for a console message that matches. Messages travel on their
// own subscription, so they can arrive after the page state shows the
// refusal.
func (c *consoleLog) await(t *testing.T, what string, match func(chromedp.ConsoleMessage) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := eventually(ctx, func() (bool, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, m := range c.msgs {
			if match(m) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		t.Errorf("no console message: %s (%v); console: %v", what, err, c.msgs)
	}
}

// eventually calls cond until it reports true, fails, or ctx ends.
func eventually(ctx context.Context, cond func() (bool, error)) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// headerValue looks a header up in the browser's view of a response, whose
// names keep the server's spelling.
func headerValue(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}
