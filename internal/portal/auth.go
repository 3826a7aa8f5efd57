package portal

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/clientportal/portal/internal/access"
)

// LoginStep is where a login stands after a call.
type LoginStep string

const (
	StepTwoFactorRequired  LoginStep = "TWO_FACTOR_REQUIRED"
	StepEnrollmentRequired LoginStep = "TWO_FACTOR_ENROLLMENT_REQUIRED"
	StepSignedIn           LoginStep = "SIGNED_IN"
)

// LoginResult is the answer to login and verifyTwoFactor.
type LoginResult struct {
	Step  LoginStep
	Token string // the session token (a new one after 2FA)
	// Set when Step is StepEnrollmentRequired.
	Secret, OTPAuthURL string
	// Set when Step is StepSignedIn.
	User *User
}

// ErrBadCredentials is the one answer to a wrong email or a wrong password.
var ErrBadCredentials = &Error{Kind: KindUnauthenticated, Message: "wrong email or password"}

// Login checks email and password and starts a session that waits for 2FA.
// A user without confirmed 2FA gets a fresh TOTP secret to enrol.
func (s *Service) Login(ctx context.Context, email, password string) (*LoginResult, error) {
	key := strings.ToLower(strings.TrimSpace(email))
	if len(key) > 254 || !utf8.ValidString(key) || strings.ContainsFunc(key, unicode.IsControl) || len(password) > 4*MaxPasswordLen {
		return nil, ErrBadCredentials // no account has such an address
	}
	l := s.cfg.Limits
	ip := ipKeyOf(ctx, "login", l.LoginPerIP)
	if err := s.throttle(ctx, ip, throttleKey{"login:acct:" + key + ":" + ip.key, l.LoginPerAccount},
		throttleKey{"login:acct:" + key, l.LoginPerAccountAnyIP}); err != nil {
		return nil, err
	}
	u, err := s.store.UserByEmail(ctx, key)
	if err != nil && KindOf(err) != KindNotFound {
		return nil, err
	}
	hash := ""
	if u != nil && u.Status == StatusActive {
		hash = u.PasswordHash
	}
	ok, err := s.hasher.Check(ctx, password, hash) // burns the dummy hash when hash is ""
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrBadCredentials
	}
	now := s.now()
	res := &LoginResult{Step: StepTwoFactorRequired, Token: NewToken()}
	if !u.TwoFactorEnabled {
		secret, url, err := newTOTP(s.cfg.Issuer, u.Email)
		if err != nil {
			return nil, err
		}
		u.TOTPSecret = s.box.Seal([]byte(secret), []byte(u.ID))
		if err := s.store.UpdateUser(ctx, u, "totp_secret"); err != nil {
			return nil, err
		}
		res.Step, res.Secret, res.OTPAuthURL = StepEnrollmentRequired, secret, url
	}
	sess := &Session{Hash: SessionKey(res.Token), UserID: u.ID, OrgID: u.OrgID, Role: u.Role,
		Stage: StageTwoFactor, CreatedAt: now, LastSeenAt: now}
	if err := s.sessions.Create(ctx, sess); err != nil {
		return nil, err
	}
	return res, nil
}

// ErrWrongCode is the answer to a wrong, malformed or reused TOTP code.
var ErrWrongCode = &Error{Kind: KindInvalid, Field: "code", Message: "the code is wrong or was already used"}

// VerifyTwoFactor checks a TOTP code for the session that Login started.
// On success the waiting session is replaced by a new, full one (a new
// token, so a token seen before 2FA is worth nothing after). After
// MaxWrongCodes wrong codes the waiting session ends.
func (s *Service) VerifyTwoFactor(ctx context.Context, code string) (*LoginResult, error) {
	v := ViewerFrom(ctx)
	if v == nil {
		if err := noViewer(ctx); err != ErrUnauthenticated {
			return nil, err
		}
	}
	if v == nil || v.Session.Stage != StageTwoFactor {
		return nil, &Error{Kind: KindUnauthenticated, Message: "no login is waiting for a code; call login first"}
	}
	u := v.User
	if err := s.throttle(ctx, throttleKey{"2fa:acct:" + u.ID, s.cfg.Limits.TwoFactorPerAccount}); err != nil {
		return nil, err
	}
	now := s.now()
	if u.TOTPFailures >= s.cfg.MaxWrongCodesPerDay && u.TOTPFailuresSince != nil {
		if until := u.TOTPFailuresSince.Add(wrongCodeWindow); now.Before(until) {
			return nil, &Error{Kind: KindRateLimited, RetryAfterSeconds: int(until.Sub(now)/time.Second) + 1,
				Message: "too many wrong codes today; try again later or ask an admin to reset your two-factor authentication"}
		}
	}
	secret, err := s.box.Open(u.TOTPSecret, []byte(u.ID))
	if err != nil { // no secret (2FA reset meanwhile): start again
		_ = s.sessions.Delete(ctx, v.Session.Hash)
		return nil, &Error{Kind: KindUnauthenticated, Message: "two-factor setup changed; sign in again"}
	}
	step := matchTOTP(string(secret), strings.TrimSpace(code), now, u.TOTPLastStep)
	accepted := false
	if step > 0 {
		// The conditional update makes a code count once, even when two
		// requests race with it.
		if accepted, err = s.store.AcceptTOTPStep(ctx, u.ID, step); err != nil {
			return nil, err
		}
	}
	if !accepted {
		daily, _, err := s.store.RecordWrongCode(ctx, u.ID, now, wrongCodeWindow)
		if err != nil {
			return nil, err
		}
		if daily == s.cfg.MaxWrongCodesPerDay { // the admins can see it
			if err := s.store.InTx(ctx, func(tx Store) error {
				return audit(ctx, tx, u.OrgID, &u.ID, AuditTwoFactorLocked, u, nil, nil, now)
			}); err != nil {
				return nil, err
			}
		}
		n, err := s.sessions.FailCode(ctx, v.Session.Hash)
		if err != nil {
			return nil, err
		}
		if n >= s.cfg.MaxWrongCodes {
			_ = s.sessions.Delete(ctx, v.Session.Hash)
			return nil, &Error{Kind: KindInvalid, Field: "code", Message: "too many wrong codes; sign in again"}
		}
		return nil, ErrWrongCode
	}
	// The password was checked when this login started. A reset or removal
	// since then (which ended the user's sessions), or a newer login that
	// replaced an unconfirmed secret, ends this login too. The check and the
	// enrolment run under the user's row lock, and the full session dates
	// from the login, so a reset that commits after this point still ends it.
	err = s.store.InTx(ctx, func(tx Store) error {
		cur, err := tx.LockUser(ctx, u.OrgID, u.ID)
		if err != nil {
			return err
		}
		if !bytes.Equal(cur.TOTPSecret, u.TOTPSecret) ||
			(cur.SessionsNotBefore != nil && v.Session.CreatedAt.Before(*cur.SessionsNotBefore)) {
			return errLoginSuperseded
		}
		u = cur
		if u.TwoFactorEnabled {
			return nil
		}
		u.TwoFactorEnabled = true
		if err := tx.UpdateUser(ctx, u, "two_factor_enabled"); err != nil {
			return err
		}
		return audit(ctx, tx, u.OrgID, &u.ID, AuditTwoFactorEnrolled, u, nil, nil, now)
	})
	if errors.Is(err, errLoginSuperseded) || KindOf(err) == KindNotFound {
		_ = s.sessions.Delete(ctx, v.Session.Hash)
		return nil, errLoginSuperseded
	}
	if err != nil {
		return nil, err
	}
	if err := s.sessions.Delete(ctx, v.Session.Hash); err != nil {
		return nil, err
	}
	token := NewToken()
	full := &Session{Hash: SessionKey(token), UserID: u.ID, OrgID: u.OrgID, Role: u.Role,
		Stage: StageFull, CreatedAt: v.Session.CreatedAt, LastSeenAt: now}
	if err := s.sessions.Create(ctx, full); err != nil {
		return nil, err
	}
	s.touchActive(ctx, u.ID, now)
	u.LastActiveAt = &now
	return &LoginResult{Step: StepSignedIn, Token: token, User: u}, nil
}

// wrongCodeWindow is the rolling window of MaxWrongCodesPerDay.
const wrongCodeWindow = 24 * time.Hour

// errLoginSuperseded: the account changed under a login waiting for 2FA.
var errLoginSuperseded = &Error{Kind: KindUnauthenticated, Message: "your account changed while signing in; sign in again"}

// Logout ends the caller's session (at either stage).
func (s *Service) Logout(ctx context.Context) error {
	v := ViewerFrom(ctx)
	if v == nil {
		return noViewer(ctx)
	}
	return s.sessions.Delete(ctx, v.Session.Hash)
}

// Me is the signed-in user.
func (s *Service) Me(ctx context.Context) (*User, error) {
	v, err := signedIn(ctx)
	if err != nil {
		return nil, err
	}
	return v.User, nil
}

// ErrBadToken is the answer to an unknown, used or expired link token.
var ErrBadToken = &Error{Kind: KindInvalid, Field: "token", Message: "this link is invalid, expired or already used; ask for a new one"}

// redeem consumes a single-use token and sets the user's password, all in
// one transaction: a bad password leaves the token unused. It returns the
// user as updated.
func (s *Service) redeem(ctx context.Context, kind TokenKind, token, password string, change func(tx Store, u *User, now time.Time) error) (*User, error) {
	if err := s.throttle(ctx, ipKeyOf(ctx, "token", s.cfg.Limits.TokenPerIP)); err != nil {
		return nil, err
	}
	if err := checkPassword(password, ""); err != nil {
		return nil, err
	}
	if token == "" || len(token) > 128 {
		return nil, ErrBadToken
	}
	// A cheap look first, so that made-up tokens cost no password hash.
	if _, err := s.store.FindToken(ctx, kind, HashToken(token), s.now()); KindOf(err) == KindNotFound {
		return nil, ErrBadToken
	} else if err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	var u *User
	err = s.store.InTx(ctx, func(tx Store) error {
		now := s.now()
		t, err := tx.ConsumeToken(ctx, kind, HashToken(token), now)
		if KindOf(err) == KindNotFound {
			return ErrBadToken
		} else if err != nil {
			return err
		}
		if u, err = tx.UserByID(ctx, t.UserID); KindOf(err) == KindNotFound {
			return ErrBadToken
		} else if err != nil {
			return err
		}
		if err := checkPassword(password, u.Email); err != nil {
			return err
		}
		u.PasswordHash = hash
		if err := tx.UpdateUser(ctx, u, "password_hash"); err != nil {
			return err
		}
		return change(tx, u, now)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// AcceptInvitation sets the invitee's password and makes them ACTIVE.
func (s *Service) AcceptInvitation(ctx context.Context, token, password string) (*User, error) {
	return s.redeem(ctx, TokenInvitation, token, password, func(tx Store, u *User, now time.Time) error {
		if u.Status != StatusInvited {
			return ErrBadToken
		}
		u.Status = StatusActive
		if err := tx.UpdateUser(ctx, u, "status"); err != nil {
			return err
		}
		return audit(ctx, tx, u.OrgID, &u.ID, AuditInvitationAccepted, u, nil, nil, now)
	})
}

// ResetPassword sets a new password from a reset link and ends every
// session of the user. 2FA stays as it was: the next login still asks for it.
func (s *Service) ResetPassword(ctx context.Context, token, password string) error {
	u, err := s.redeem(ctx, TokenPasswordReset, token, password, func(tx Store, u *User, now time.Time) error {
		if err := tx.RevokeTokens(ctx, u.ID, TokenPasswordReset, now); err != nil {
			return err
		}
		if err := endSessions(ctx, tx, u, now); err != nil {
			return err
		}
		return audit(ctx, tx, u.OrgID, &u.ID, AuditPasswordReset, u, nil, nil, now)
	})
	if err != nil {
		return err
	}
	s.dropSessions(ctx, u.ID)
	return nil
}

// RequestPasswordReset is the "Forgot password?" flow. It answers the same,
// after the same minimum time, whether or not the email belongs to an
// active user; only then is a reset link emailed.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	start := s.clock.Now()
	defer func() {
		if wait := s.cfg.ResetFloor - s.clock.Now().Sub(start); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
	}()
	key := strings.ToLower(strings.TrimSpace(email))
	l := s.cfg.Limits
	if err := s.throttle(ctx, ipKeyOf(ctx, "reset", l.ResetPerIP), throttleKey{"reset:acct:" + key, l.ResetPerAccount}); err != nil {
		return err
	}
	if _, err := normalizeEmail("email", key); err != nil {
		return err
	}
	u, err := s.store.UserByEmail(ctx, key)
	if KindOf(err) == KindNotFound || (err == nil && u.Status != StatusActive) {
		return nil
	}
	if err != nil {
		return err
	}
	err = s.store.InTx(ctx, func(tx Store) error {
		now := s.now()
		if _, err := s.issueLink(ctx, tx, u, nil, TokenPasswordReset, EmailSelfServiceReset, now); err != nil {
			return err
		}
		return audit(ctx, tx, u.OrgID, &u.ID, AuditPasswordResetAsked, u, nil, nil, now)
	})
	if err != nil {
		return err
	}
	s.notify()
	return nil
}

// issueLink revokes the user's open tokens of kind, makes a new one, and
// queues the email that carries its link, all in tx. It returns the link.
func (s *Service) issueLink(ctx context.Context, tx Store, u *User, by *User, kind TokenKind, email EmailKind, now time.Time) (string, error) {
	if err := tx.RevokeTokens(ctx, u.ID, kind, now); err != nil {
		return "", err
	}
	// Emails still queued with the links just revoked would only deliver
	// dead links.
	ttl, path, stale := s.cfg.ResetTTL, "/reset-password", []EmailKind{EmailAdminReset, EmailSelfServiceReset}
	if kind == TokenInvitation {
		ttl, path, stale = s.cfg.InvitationTTL, "/accept-invitation", []EmailKind{EmailInvitation}
	}
	if err := tx.CancelEmails(ctx, u.ID, stale...); err != nil {
		return "", err
	}
	token := NewToken()
	t := &Token{UserID: u.ID, Kind: kind, Hash: HashToken(token), ExpiresAt: now.Add(ttl), CreatedAt: now}
	if err := tx.CreateToken(ctx, t); err != nil {
		return "", err
	}
	org, err := tx.Organization(ctx, u.OrgID)
	if err != nil {
		return "", err
	}
	e := &Email{Kind: email, UserID: u.ID, To: u.Email, ToName: u.Name, OrgName: org.Name,
		Link: Link(s.cfg.PublicURL, path, token), ExpiresAt: t.ExpiresAt}
	if by != nil {
		e.Inviter = by.Name
	}
	if kind == TokenInvitation {
		u.InvitationSentAt = &now
		if err := tx.UpdateUser(ctx, u, "invitation_sent_at"); err != nil {
			return "", err
		}
	}
	return e.Link, tx.EnqueueEmail(ctx, e, now)
}

// Link builds a frontend link carrying token in the fragment, which
// browsers never send to a server (DESIGN.md section 8).
func Link(publicURL, path, token string) string {
	return strings.TrimRight(publicURL, "/") + path + "#token=" + token
}

// audit records one change in tx.
func audit(ctx context.Context, tx Store, orgID string, actorID *string, action string, target *User, before, after *access.Role, now time.Time) error {
	e := &AuditEntry{OrgID: orgID, ActorID: actorID, Action: action, BeforeRole: before, AfterRole: after, CreatedAt: now}
	if target != nil {
		e.TargetID = &target.ID
	}
	return tx.AddAudit(ctx, e)
}
