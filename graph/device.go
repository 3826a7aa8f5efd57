package graph

import (
	"context"
	"net/http"
	"time"

	"github.com/clientportal/portal/internal/portal"
)

// DeviceCookieName is the device-token cookie: set when a browser signs in
// fully, sent back at every later login (portal.WithDeviceToken), so that
// the owner's browser is not locked out by someone guessing their
// password elsewhere. HttpOnly and SameSite like the session cookie, and
// long-lived.
const DeviceCookieName = "portal_device"

// withDevice passes the request's device token, if any, to the service.
func withDevice(ctx context.Context, r *http.Request) context.Context {
	if c, err := r.Cookie(DeviceCookieName); err == nil {
		return portal.WithDeviceToken(ctx, c.Value)
	}
	return ctx
}

// setDevice sets the device cookie a full sign-in issued.
func (j *cookieJar) setDevice(res *portal.LoginResult) {
	if res.DeviceToken == "" {
		return
	}
	http.SetCookie(j.w, &http.Cookie{Name: DeviceCookieName, Value: res.DeviceToken, Path: "/",
		MaxAge: int(res.DeviceMaxAge / time.Second), HttpOnly: true, Secure: j.secure || j.sameSite == http.SameSiteNoneMode, SameSite: j.sameSite})
}
