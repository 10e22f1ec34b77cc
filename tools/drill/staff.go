package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"
)

// staffClient is a lead at the staff console: enrolled from the link
// `resguardo staff create` printed, signed in once (a TOTP step is used
// once), then viewing customers: every view is an audited write.
type staffClient struct {
	base   string
	client *http.Client
	secret string
}

var (
	csrfRe     = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	secretRe   = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)
	customerRe = regexp.MustCompile(`href="/customers/([A-Z2-7]{26})"`)
)

const staffPassword = "drill staff passphrase long enough"

func newStaffClient(base string) *staffClient {
	jar, _ := cookiejar.New(nil)
	return &staffClient{base: base, client: &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (s *staffClient) do(ctx context.Context, method, path string, form url.Values) (int, http.Header, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, body)
	if err != nil {
		return 0, nil, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", s.base)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, string(b), nil
}

func (s *staffClient) csrf(ctx context.Context, path string) (string, string, error) {
	code, _, body, err := s.do(ctx, "GET", path, nil)
	if err != nil {
		return "", "", err
	}
	m := csrfRe.FindStringSubmatch(body)
	if code != 200 || m == nil {
		return "", body, fmt.Errorf("GET %s: %d, no form", path, code)
	}
	return m[1], body, nil
}

// enrol sets the password and the TOTP secret from an enrolment link.
func (s *staffClient) enrol(ctx context.Context, link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return err
	}
	token := u.Query().Get("token")
	tok, _, err := s.csrf(ctx, "/enrol?token="+url.QueryEscape(token))
	if err != nil {
		return err
	}
	code, _, body, err := s.do(ctx, "POST", "/enrol", url.Values{"csrf_token": {tok}, "token": {token}, "name": {"Drill Lead"}, "password": {staffPassword}})
	if err != nil {
		return err
	}
	m, c := secretRe.FindStringSubmatch(body), csrfRe.FindStringSubmatch(body)
	if code != 200 || m == nil || c == nil {
		return fmt.Errorf("enrol password: %d", code)
	}
	s.secret = m[1]
	otp, _ := totp.GenerateCode(s.secret, time.Now())
	code, _, _, err = s.do(ctx, "POST", "/enrol/confirm", url.Values{"csrf_token": {c[1]}, "token": {token}, "code": {otp}})
	if err != nil || code/100 != 3 && code != 200 {
		return fmt.Errorf("enrol confirm: %d %v", code, err)
	}
	return nil
}

// signIn signs in with the password and a code of a step not used yet.
func (s *staffClient) signIn(ctx context.Context, email string) error {
	tok, _, err := s.csrf(ctx, "/login")
	if err != nil {
		return err
	}
	code, h, _, err := s.do(ctx, "POST", "/login", url.Values{"csrf_token": {tok}, "email": {email}, "password": {staffPassword}})
	if err != nil || code != 303 || h.Get("Location") != "/login/code" {
		return fmt.Errorf("staff password step: %d %v", code, err)
	}
	tok, _, err = s.csrf(ctx, "/login/code")
	if err != nil {
		return err
	}
	// The enrolment used the current step; the next one is accepted too
	// (one step of clock drift either way).
	otp, _ := totp.GenerateCode(s.secret, time.Now().Add(30*time.Second))
	code, _, _, err = s.do(ctx, "POST", "/login/code", url.Values{"csrf_token": {tok}, "code": {otp}})
	if err != nil || code != 303 {
		return fmt.Errorf("staff code step: %d %v", code, err)
	}
	return nil
}

// customerIDs searches for each address and collects the ids found.
func (s *staffClient) customerIDs(ctx context.Context, emails []string) ([]string, error) {
	var ids []string
	for _, e := range emails {
		tok, _, err := s.csrf(ctx, "/customers")
		if err != nil {
			return nil, err
		}
		code, _, body, err := s.do(ctx, "POST", "/customers", url.Values{"csrf_token": {tok}, "q": {e}})
		if err != nil || code != 200 {
			return nil, fmt.Errorf("search: %d %v", code, err)
		}
		if m := customerRe.FindStringSubmatch(body); m != nil {
			ids = append(ids, m[1])
		}
	}
	if len(ids) == 0 {
		return nil, errors.New("the search found no drill customer")
	}
	return ids, nil
}

// view opens one customer's masked record (an audited view).
func (s *staffClient) view(ctx context.Context, id string) (int, http.Header, error) {
	code, h, _, err := s.do(ctx, "GET", "/customers/"+id, nil)
	return code, h, err
}
