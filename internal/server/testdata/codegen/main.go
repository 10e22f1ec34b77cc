// Command driver is compiled by TestGeneratedClient in a module of its own,
// next to a client that oapi-codegen generated from the served OpenAPI
// document; it uses only that client. Usage:
//
//	driver URL plain EMAIL PASSWORD      register, sign in, /me, refresh
//	driver URL mfa EMAIL PASSWORD CODE   sign in with a second factor, /me, refresh
//
// It prints the access token on success and exits non-zero on any mismatch.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"gen/client"
)

func main() {
	if len(os.Args) < 5 {
		fail("usage: driver URL plain|mfa EMAIL PASSWORD [CODE]")
	}
	base, mode, email, password := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	ctx := context.Background()
	c, err := client.NewClientWithResponses(base)
	check(err)
	device := "generated client"

	var tokens client.Tokens
	switch mode {
	case "plain":
		reg, err := c.RegisterWithResponse(ctx, client.RegisterJSONRequestBody{Email: email, Password: password, Name: "Generated Client"})
		check(err)
		if reg.StatusCode() != http.StatusAccepted || reg.JSON202 == nil {
			fail("register: %d %s", reg.StatusCode(), reg.Body)
		}
		answer := signIn(ctx, c, email, password, device)
		t, ok := answer.(client.Tokens)
		if !ok {
			fail("sign-in without a second factor: discriminator gave %T, want client.Tokens", answer)
		}
		tokens = t
	case "mfa":
		if len(os.Args) < 6 {
			fail("mfa needs a code")
		}
		answer := signIn(ctx, c, email, password, device)
		m, ok := answer.(client.MFARequired)
		if !ok {
			fail("sign-in with a second factor: discriminator gave %T, want client.MFARequired", answer)
		}
		if m.Status != client.MfaRequired || m.MfaToken == "" || !bool(m.MfaRequired) {
			fail("mfa answer: %+v", m)
		}
		resp, err := c.MfaWithResponse(ctx, client.MfaJSONRequestBody{MfaToken: m.MfaToken, Code: os.Args[5], DeviceName: &device})
		check(err)
		if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
			fail("second step: %d %s", resp.StatusCode(), resp.Body)
		}
		tokens = *resp.JSON200
	default:
		fail("unknown mode %q", mode)
	}
	checkTokens("sign-in", tokens)
	me(ctx, c, tokens.AccessToken, email, mode == "mfa")

	ref, err := c.RefreshWithResponse(ctx, client.RefreshJSONRequestBody{RefreshToken: tokens.RefreshToken})
	check(err)
	if ref.StatusCode() != http.StatusOK || ref.JSON200 == nil {
		fail("refresh: %d %s", ref.StatusCode(), ref.Body)
	}
	checkTokens("refresh", *ref.JSON200)
	if ref.JSON200.AccessToken == tokens.AccessToken || ref.JSON200.RefreshToken == tokens.RefreshToken {
		fail("refresh returned the same tokens")
	}
	me(ctx, c, ref.JSON200.AccessToken, email, mode == "mfa")

	// The access token of before the refresh is retired: the typed 401
	// answer is filled in.
	old, err := c.GetMeWithResponse(ctx, bearer(tokens.AccessToken))
	check(err)
	if old.StatusCode() != http.StatusUnauthorized || old.ApplicationproblemJSON401 == nil {
		fail("/me with the retired token: %d %s", old.StatusCode(), old.Body)
	}
	fmt.Println(ref.JSON200.AccessToken)
}

// signIn posts the password step and returns the answer chosen by the
// discriminator (client.Tokens or client.MFARequired).
func signIn(ctx context.Context, c *client.ClientWithResponses, email, password, device string) any {
	resp, err := c.LoginWithResponse(ctx, client.LoginJSONRequestBody{Email: email, Password: password, DeviceName: &device})
	check(err)
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		fail("login: %d %s", resp.StatusCode(), resp.Body)
	}
	status, err := resp.JSON200.Discriminator()
	check(err)
	v, err := resp.JSON200.ValueByDiscriminator()
	check(err)
	switch v.(type) {
	case client.Tokens:
		if status != string(client.SignedIn) {
			fail("tokens with status %q", status)
		}
	case client.MFARequired:
		if status != string(client.MfaRequired) {
			fail("second factor with status %q", status)
		}
	}
	return v
}

func checkTokens(step string, t client.Tokens) {
	if t.Status != client.SignedIn || t.TokenType != client.Bearer || t.AccessToken == "" || t.RefreshToken == "" || t.ExpiresIn <= 0 {
		fail("%s: tokens %+v", step, t)
	}
}

func me(ctx context.Context, c *client.ClientWithResponses, access, email string, totp bool) {
	resp, err := c.GetMeWithResponse(ctx, bearer(access))
	check(err)
	if resp.StatusCode() != http.StatusOK || resp.JSON200 == nil {
		fail("/me: %d %s", resp.StatusCode(), resp.Body)
	}
	if resp.JSON200.Email != email || resp.JSON200.Mfa.Totp != totp {
		fail("/me: %+v", resp.JSON200)
	}
}

func bearer(token string) client.RequestEditorFn {
	return func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "driver: "+format+"\n", args...)
	os.Exit(1)
}
