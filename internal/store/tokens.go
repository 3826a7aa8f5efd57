package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/clientportal/portal/internal/portal"
)

type tokenRow struct {
	bun.BaseModel `bun:"table:tokens"`
	ID            string     `bun:"id,pk"`
	UserID        string     `bun:"user_id"`
	Kind          string     `bun:"kind"`
	Hash          []byte     `bun:"hash"`
	ExpiresAt     time.Time  `bun:"expires_at"`
	UsedAt        *time.Time `bun:"used_at"`
	CreatedAt     time.Time  `bun:"created_at"`
}

func (s *DB) CreateToken(ctx context.Context, t *portal.Token) error {
	if t.ID == "" {
		t.ID = newID()
	}
	_, err := s.idb.NewInsert().Model(&tokenRow{ID: t.ID, UserID: t.UserID, Kind: string(t.Kind),
		Hash: t.Hash, ExpiresAt: t.ExpiresAt, CreatedAt: t.CreatedAt}).Exec(ctx)
	return translate(err)
}

func (s *DB) FindToken(ctx context.Context, kind portal.TokenKind, hash []byte, now time.Time) (*portal.Token, error) {
	var r tokenRow
	if err := s.idb.NewSelect().Model(&r).Where("hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ?", hash, string(kind), now).Scan(ctx); err != nil {
		return nil, translate(err)
	}
	return r.token(), nil
}

func (r *tokenRow) token() *portal.Token {
	return &portal.Token{ID: r.ID, UserID: r.UserID, Kind: portal.TokenKind(r.Kind), Hash: r.Hash,
		ExpiresAt: r.ExpiresAt.UTC(), UsedAt: utcPtr(r.UsedAt), CreatedAt: r.CreatedAt.UTC()}
}

// ConsumeToken claims the token with one conditional UPDATE: of many
// concurrent callers exactly one sees a row affected.
func (s *DB) ConsumeToken(ctx context.Context, kind portal.TokenKind, hash []byte, now time.Time) (*portal.Token, error) {
	var t *portal.Token
	err := s.inTx(ctx, func(idb bun.IDB) error {
		res, err := idb.NewUpdate().Table("tokens").Set("used_at = ?", now).
			Where("hash = ? AND kind = ? AND used_at IS NULL AND expires_at > ?", hash, string(kind), now).Exec(ctx)
		if err := affectedOne(res, err); err != nil {
			return err
		}
		var r tokenRow
		if err := idb.NewSelect().Model(&r).Where("hash = ?", hash).Scan(ctx); err != nil {
			return translate(err)
		}
		t = r.token()
		return nil
	})
	return t, err
}

func (s *DB) RevokeTokens(ctx context.Context, userID string, kind portal.TokenKind, now time.Time) error {
	q := s.idb.NewUpdate().Table("tokens").Set("used_at = ?", now).Where("user_id = ? AND used_at IS NULL", userID)
	if kind != "" {
		q = q.Where("kind = ?", string(kind))
	}
	_, err := q.Exec(ctx)
	return translate(err)
}
