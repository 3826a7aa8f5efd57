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
	key := accountKey(email)
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
		if err := s.store.SetTOTPSecret(ctx, u.ID, u.TOTPSecret); err != nil {
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
	v, err := pendingLogin(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.throttle(ctx, throttleKey{"2fa:acct:" + v.User.ID, s.cfg.Limits.TwoFactorPerAccount}); err != nil {
		return nil, err
	}
	now := s.now()
	if err := s.dailyLock(v.User, now); err != nil {
		return nil, err
	}
	accepted, err := s.acceptCode(ctx, v, code, now)
	if err != nil {
		return nil, err
	}
	if !accepted {
		return nil, s.countWrongCode(ctx, v, now)
	}
	u, err := s.confirmEnrolment(ctx, v, now)
	if err != nil {
		return nil, err
	}
	return s.startFullSession(ctx, v, u, now)
}

// dailyLock refuses every code while the user has sent
// MaxWrongCodesPerDay wrong ones in the current window.
func (s *Service) dailyLock(u *User, now time.Time) error {
	if u.TOTPFailures < s.cfg.MaxWrongCodesPerDay || u.TOTPFailuresSince == nil {
		return nil
	}
	until := u.TOTPFailuresSince.Add(wrongCodeWindow)
	if !now.Before(until) {
		return nil
	}
	return &Error{Kind: KindRateLimited, RetryAfterSeconds: int(until.Sub(now)/time.Second) + 1,
		Message: "too many wrong codes today; try again later or ask an admin to reset your two-factor authentication"}
}

// acceptCode reports whether code is the user's current TOTP code, not
// used before; the store's conditional update makes a code count once,
// even when two requests race with it. A login whose secret is gone (a
// 2FA reset meanwhile) ends here.
func (s *Service) acceptCode(ctx context.Context, v *Viewer, code string, now time.Time) (bool, error) {
	u := v.User
	secret, err := s.box.Open(u.TOTPSecret, []byte(u.ID))
	if err != nil { // no secret (2FA reset meanwhile): start again
		_ = s.sessions.Delete(ctx, v.Session.Hash)
		return false, &Error{Kind: KindUnauthenticated, Message: "two-factor setup changed; sign in again"}
	}
	step := matchTOTP(string(secret), strings.TrimSpace(code), now, u.TOTPLastStep)
	if step == 0 {
		return false, nil
	}
	return s.store.AcceptTOTPStep(ctx, u.ID, step)
}

// countWrongCode counts a wrong code against the user's day (recording,
// in the same transaction, the lock when it is reached, which the admins
// can see) and against this login, which ends after MaxWrongCodes. It
// returns the error to answer with.
func (s *Service) countWrongCode(ctx context.Context, v *Viewer, now time.Time) error {
	u := v.User
	err := s.store.InTx(ctx, func(tx Store) error {
		daily, _, err := tx.RecordWrongCode(ctx, u.ID, now, wrongCodeWindow)
		if err != nil || daily != s.cfg.MaxWrongCodesPerDay {
			return err
		}
		return audit(ctx, tx, now, auditEvent{Action: AuditTwoFactorLocked, Actor: u, Target: u})
	})
	if err != nil {
		return err
	}
	n, err := s.sessions.FailCode(ctx, v.Session.Hash)
	if err != nil {
		return err
	}
	if n >= s.cfg.MaxWrongCodes {
		_ = s.sessions.Delete(ctx, v.Session.Hash)
		return &Error{Kind: KindInvalid, Field: "code", Message: "too many wrong codes; sign in again"}
	}
	return ErrWrongCode
}

// confirmEnrolment enables 2FA on a first login and returns the user as
// it is now. The password was checked when this login started. A reset or
// removal since then (which ended the user's sessions), or a newer login
// that replaced an unconfirmed secret, ends this login too. The check and
// the enrolment run under the user's row lock, and the full session dates
// from the login, so a reset that commits after this point still ends it.
func (s *Service) confirmEnrolment(ctx context.Context, v *Viewer, now time.Time) (*User, error) {
	var u *User
	err := s.store.InTx(ctx, func(tx Store) error {
		cur, err := tx.LockUser(ctx, v.User.OrgID, v.User.ID)
		if err != nil {
			return err
		}
		if !bytes.Equal(cur.TOTPSecret, v.User.TOTPSecret) ||
			(cur.SessionsNotBefore != nil && v.Session.CreatedAt.Before(*cur.SessionsNotBefore)) {
			return errLoginSuperseded
		}
		u = cur
		if u.TwoFactorEnabled {
			return nil
		}
		if err := tx.EnableTwoFactor(ctx, u.ID); err != nil {
			return err
		}
		u.TwoFactorEnabled = true
		return audit(ctx, tx, now, auditEvent{Action: AuditTwoFactorEnrolled, Actor: u, Target: u})
	})
	if errors.Is(err, errLoginSuperseded) || KindOf(err) == KindNotFound {
		_ = s.sessions.Delete(ctx, v.Session.Hash)
		return nil, errLoginSuperseded
	}
	return u, err
}

// startFullSession replaces the waiting session by a full one under a new
// token, in one step of the session store. The full session dates from
// the login, so the absolute lifetime counts from the password check.
func (s *Service) startFullSession(ctx context.Context, v *Viewer, u *User, now time.Time) (*LoginResult, error) {
	token := NewToken()
	full := &Session{Hash: SessionKey(token), UserID: u.ID, OrgID: u.OrgID, Role: u.Role,
		Stage: StageFull, CreatedAt: v.Session.CreatedAt, LastSeenAt: now}
	if err := s.sessions.Rotate(ctx, v.Session.Hash, full); err != nil {
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
		if err := tx.SetPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		u.PasswordHash = hash
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
		if err := tx.Activate(ctx, u.ID); err != nil {
			return err
		}
		u.Status = StatusActive
		return audit(ctx, tx, now, auditEvent{Action: AuditInvitationAccepted, Actor: u, Target: u})
	})
}

// ResetPassword sets a new password from a reset link and ends every
// session of the user. 2FA stays as it was: the next login still asks for it.
func (s *Service) ResetPassword(ctx context.Context, token, password string) error {
	u, err := s.redeem(ctx, TokenPasswordReset, token, password, func(tx Store, u *User, now time.Time) error {
		if err := tx.RevokeTokens(ctx, u.ID, TokenPasswordReset, now); err != nil {
			return err
		}
		if err := revokeSessions(ctx, tx, u, now); err != nil {
			return err
		}
		return audit(ctx, tx, now, auditEvent{Action: AuditPasswordReset, Actor: u, Target: u})
	})
	if err != nil {
		return err
	}
	s.deleteSessions(ctx, u.ID)
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
	key := accountKey(email)
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
		return audit(ctx, tx, now, auditEvent{Action: AuditPasswordResetAsked, Actor: u, Target: u})
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
		if err := tx.MarkInvitationSent(ctx, u.ID, now); err != nil {
			return "", err
		}
		u.InvitationSentAt = &now
	}
	return e.Link, tx.EnqueueEmail(ctx, e, now)
}

// Link builds a frontend link carrying token in the fragment, which
// browsers never send to a server (DESIGN.md section 8).
func Link(publicURL, path, token string) string {
	return strings.TrimRight(publicURL, "/") + path + "#token=" + token
}

// auditEvent is one audit entry as the service states it.
type auditEvent struct {
	Action AuditAction
	// Org is the organisation; by default the target's, else the actor's.
	Org    string
	Actor  *User // nil: the operator (CLI)
	Target *User // nil: the event has no target user
	// Before and After are the target's roles around the change, when it
	// changed or ended one.
	Before, After *access.Role
}

// audit records ev in tx at now.
func audit(ctx context.Context, tx Store, now time.Time, ev auditEvent) error {
	e := &AuditEntry{OrgID: ev.Org, Action: ev.Action, BeforeRole: ev.Before, AfterRole: ev.After, CreatedAt: now}
	if ev.Actor != nil {
		e.ActorID = &ev.Actor.ID
		if e.OrgID == "" {
			e.OrgID = ev.Actor.OrgID
		}
	}
	if ev.Target != nil {
		e.TargetID = &ev.Target.ID
		if ev.Org == "" {
			e.OrgID = ev.Target.OrgID
		}
	}
	return tx.AddAudit(ctx, e)
}
