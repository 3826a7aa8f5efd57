package portal

import (
	"context"
	"errors"
	"time"

	"github.com/clientportal/portal/internal/access"
)

// The security event trail (DESIGN.md section 3): sign-ins, sign-outs,
// sessions ended and denied attempts go into the same audit log as the
// state changes. None of it is on the path of an ordinary signed-in
// request.

// Why an admin action was denied (the second half of an ACCESS_DENIED
// entry's reason).
const (
	whyPermission  = "your role does not allow this"
	whyRank        = "the user ranks at or above you"
	whyRoleTooHigh = "you may only give roles ranked below your own"
)

// Attempted actions that are not access.Actions.
const (
	attemptCreateUser   = "CREATE_USER"
	attemptReadAuditLog = "READ_AUDIT_LOG"
)

// denied records that v attempted an admin action the policy refused. It
// runs outside the refused action's transaction (which rolled back), and
// only for a target in v's organisation: another organisation's user is
// NOT_FOUND and leaves no trace. A failure to record is logged; the
// caller answers with the denial either way.
func (s *Service) denied(ctx context.Context, v *Viewer, attempted string, target *User, asked *access.Role, why string) {
	ctx = context.WithoutCancel(ctx)
	ev := auditEvent{Action: AuditAccessDenied, Actor: v.User, Target: target, After: asked, Reason: attempted + ": " + why}
	if target != nil {
		before := target.Role
		if before != "" {
			ev.Before = &before
		}
	}
	if err := audit(ctx, s.store, s.now(), ev); err != nil {
		s.log.ErrorContext(ctx, "record denied attempt", "err", err)
	}
}

// whyDenied says why act refused a (err is ErrForbidden or errRoleTooHigh).
func whyDenied(v *Viewer, a access.Action, err error) string {
	switch {
	case errors.Is(err, errRoleTooHigh):
		return whyRoleTooHigh
	case !v.Role.Has(a.Permission()):
		return whyPermission
	}
	return whyRank
}

// lockRecordEvery bounds LOCKED entries to one per account per period, so
// that an attacker hammering a locked account does not fill the log.
const lockRecordEvery = 15 * time.Minute

// firstLockRecord reports whether no LOCKED entry was recorded for key in
// the last lockRecordEvery (and takes the slot).
func (s *Service) firstLockRecord(ctx context.Context, key string) bool {
	wait, err := s.limiter.Allow(ctx, "audit:locked:"+key, Limit{Rate: 1, Burst: 1, Period: lockRecordEvery})
	return err == nil && wait == 0
}

// recordSignInFailed records a failed sign-in of u (the actor stays nil:
// the client has not proven who it is).
func (s *Service) recordSignInFailed(ctx context.Context, u *User, reason string) {
	if err := audit(ctx, s.store, s.now(), auditEvent{Action: AuditSignInFailed, Target: u, Reason: reason}); err != nil {
		s.log.ErrorContext(ctx, "record failed sign-in", "err", err)
	}
}

// recordLoginFailed records, after the answer has gone, a wrong password
// (u known) or a refused attempt on a locked account (u nil: looked up by
// key, at most once per lockRecordEvery). It runs in the background so
// that a login for an existing email takes no longer than one for an
// unknown email, which records nothing.
func (s *Service) recordLoginFailed(ctx context.Context, key string, u *User, reason string) {
	ctx = context.WithoutCancel(ctx)
	s.bg.Go(func() {
		if u == nil {
			if !s.firstLockRecord(ctx, "login:"+key) {
				return
			}
			var err error
			if u, err = s.store.UserByEmail(ctx, key); err != nil {
				if KindOf(err) != KindNotFound {
					s.log.ErrorContext(ctx, "record failed sign-in", "err", err)
				}
				return
			}
		}
		s.recordSignInFailed(ctx, u, reason)
	})
}

// Flush waits until the audit entries recorded in the background are
// written (tests; a server that shuts down).
func (s *Service) Flush() { s.bg.Wait() }

// pruneBatch is how many audit entries one delete statement removes.
const pruneBatch = 1000

// PruneAudit deletes the audit entries older than the retention period
// (Config.AuditRetention; zero keeps everything) and returns how many.
func (s *Service) PruneAudit(ctx context.Context) (int, error) {
	if s.cfg.AuditRetention <= 0 {
		return 0, nil
	}
	before := s.now().Add(-s.cfg.AuditRetention)
	total := 0
	for {
		n, err := s.store.PruneAudit(ctx, before, pruneBatch)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}

// RunAuditPruner prunes the audit log at once and then every interval
// until ctx ends. Every instance may run it: deleting is idempotent.
func (s *Service) RunAuditPruner(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.PruneAudit(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "prune audit log", "err", err)
		} else if n > 0 {
			s.log.InfoContext(ctx, "pruned audit log", "entries", n, "retention", s.cfg.AuditRetention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
