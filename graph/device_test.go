package graph_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/clientportal/portal/graph"
	"github.com/clientportal/portal/graph/graphtest"
	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// dvPost sends one operation as a browser at address ip with cookies.
func dvPost(t *testing.T, e *graphtest.Env, ip, query string, vars map[string]any, cookies ...*http.Cookie) *graphtest.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, e.Server.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", ip)
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	r := e.Send(req)
	secCheck(t, r)
	return r
}

func dvCookie(r *graphtest.Response, name string) *http.Cookie {
	for _, c := range r.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

const dvLogin = `mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { step token } }`

// Over HTTP: a browser that signs in fully gets an HttpOnly, SameSite,
// long-lived device cookie; with it the owner signs in while an attacker
// rotating addresses has made the account RATE_LIMITED for everyone else;
// a forged cookie is no cookie.
func TestDeviceCookieOverHTTP(t *testing.T) {
	t.Parallel()
	tight := secLimits(func(l *portal.Limits) {
		l.LoginPerAccount = portal.Limit{Rate: 3, Burst: 3, Period: 1000 * time.Hour}
		l.LoginPerAccountAnyIP = portal.Limit{Rate: 6, Burst: 6, Period: 1000 * time.Hour}
	})
	graphtest.Each(t, func(t *testing.T, e *graphtest.Env) {
		const bob = "bob@example.com"
		_, annID := secOrg(t, e, "ann@example.com")
		secSeed(t, e, annID, bob, access.Viewer)
		e.SignIn(bob, graphtest.Password) // enrols 2FA (an API client: no cookies kept)

		// Bob's browser signs in: password, then code; the device cookie
		// comes with the full session.
		r := dvPost(t, e, "203.0.113.10", dvLogin, map[string]any{"e": bob, "p": graphtest.Password})
		var out struct{ Login struct{ Step, Token string } }
		secOK(t, r, &out)
		waiting := dvCookie(r, graph.CookieName)
		if dvCookie(r, graph.DeviceCookieName) != nil {
			t.Fatal("a device cookie before 2FA")
		}
		r = dvPost(t, e, "203.0.113.10", `mutation($c: String!) { verifyTwoFactor(input: {code: $c}) { step } }`,
			map[string]any{"c": e.Code(bob)}, waiting)
		secOK(t, r, nil)
		device := dvCookie(r, graph.DeviceCookieName)
		if device == nil || !device.HttpOnly || device.SameSite != http.SameSiteLaxMode || device.Path != "/" ||
			device.MaxAge < 30*24*3600 {
			t.Fatalf("device cookie %+v", device)
		}
		if bytes.Contains(r.Data, []byte(device.Value)) {
			t.Fatal("the device token is in the API's answer")
		}

		// The attacker rotates addresses until the account is limited.
		limited := false
		for i := 0; i < 20 && !limited; i++ {
			r := dvPost(t, e, fmt.Sprintf("198.51.100.%d", i), dvLogin, map[string]any{"e": bob, "p": fmt.Sprintf("guess %d", i)})
			limited = r.Code() == "RATE_LIMITED"
		}
		if !limited {
			t.Fatal("rotating addresses were never RATE_LIMITED")
		}
		secWant(t, dvPost(t, e, "192.0.2.7", dvLogin, map[string]any{"e": bob, "p": graphtest.Password}), "RATE_LIMITED")
		forged := &http.Cookie{Name: graph.DeviceCookieName, Value: device.Value[:len(device.Value)-2] + "AA"}
		if forged.Value == device.Value {
			forged.Value = device.Value[:len(device.Value)-2] + "BB"
		}
		secWant(t, dvPost(t, e, "192.0.2.7", dvLogin, map[string]any{"e": bob, "p": graphtest.Password}, forged), "RATE_LIMITED")

		// The owner's browser, from a new address, signs in.
		r = dvPost(t, e, "192.0.2.8", dvLogin, map[string]any{"e": bob, "p": graphtest.Password}, device)
		secOK(t, r, &out)
		if out.Login.Step != "TWO_FACTOR_REQUIRED" {
			t.Fatalf("step %q", out.Login.Step)
		}
	}, tight)
}
