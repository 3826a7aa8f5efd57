package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/secretbox"
	"github.com/clientportal/portal/internal/store"
)

// Every seeded ACTIVE user has this password and this TOTP secret (sealed
// for each user), so the harness can sign any of them in.
const (
	benchPassword = "bench password 12345"
	benchSecret   = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
)

type orgRow struct {
	bun.BaseModel `bun:"table:organizations"`
	ID            string    `bun:"id,pk"`
	Name          string    `bun:"name"`
	CreatedAt     time.Time `bun:"created_at"`
}

// userRow has the users table's columns (see the store's migrations).
type userRow struct {
	bun.BaseModel     `bun:"table:users"`
	ID                string     `bun:"id,pk"`
	OrgID             string     `bun:"org_id"`
	Email             string     `bun:"email"`
	Name              string     `bun:"name"`
	NameKey           string     `bun:"name_key"`
	Role              string     `bun:"role"`
	RoleOrder         int        `bun:"role_order"`
	Status            string     `bun:"status"`
	PasswordHash      string     `bun:"password_hash"`
	TOTPSecret        []byte     `bun:"totp_secret"`
	TwoFactorEnabled  bool       `bun:"two_factor_enabled"`
	InvitedByID       *string    `bun:"invited_by_id"`
	CreatedAt         time.Time  `bun:"created_at"`
	LastActiveAt      *time.Time `bun:"last_active_at"`
	InvitationSentAt  *time.Time `bun:"invitation_sent_at"`
	SessionsNotBefore *time.Time `bun:"sessions_not_before"`
}

type tokenRow struct {
	bun.BaseModel `bun:"table:tokens"`
	ID            string    `bun:"id,pk"`
	UserID        string    `bun:"user_id"`
	Kind          string    `bun:"kind"`
	Hash          []byte    `bun:"hash"`
	ExpiresAt     time.Time `bun:"expires_at"`
	CreatedAt     time.Time `bun:"created_at"`
}

var copyColumns = []string{"id", "org_id", "email", "name", "name_key", "role", "role_order", "status", "password_hash",
	"totp_secret", "two_factor_enabled", "invited_by_id", "created_at", "last_active_at", "invitation_sent_at",
	"sessions_not_before"}

// seeded is what the workloads need to know about the seeded data.
type seeded struct {
	orgID       string
	adminEmail  string
	inviteToken string   // the admin's invitation
	active      []string // emails of ACTIVE users of the main organisation, in seeding order
	targets     []target // users whose role changeRole toggles
}

type target struct {
	id   string
	role access.Role
}

var (
	firstNames = []string{"Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gia", "Hugo", "Ines", "Jon", "Kai", "Lena",
		"Milo", "Nora", "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Vic", "Wes", "Xena", "Yara", "Zoe"}
	lastNames = []string{"Abbott", "Berg", "Costa", "Dahl", "Evans", "Fox", "Gray", "Hale", "Ito", "Jones", "Khan",
		"Lund", "Moss", "Nash", "Ortiz", "Park", "Quist", "Reed", "Stone", "Tran", "Ueda", "Vance", "Wolf", "Young"}
)

// newPostgres creates a fresh database on the server of adminURL and
// returns its URL and a function that drops it.
func newPostgres(ctx context.Context, adminURL string) (string, func(), error) {
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		return "", nil, err
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "portal_bench_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		return "", nil, fmt.Errorf("create database (is PostgreSQL running?): %w", err)
	}
	drop := func() {
		if admin, err := sql.Open("pgx", adminURL); err == nil {
			_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			admin.Close()
		}
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		drop()
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// seed migrates the database at dbURL and fills it: one organisation of
// users users (its Super Admin INVITED, to be signed in through the real
// flow) and orgs more of orgUsers each, with COPY on PostgreSQL and
// multi-row inserts on SQLite.
func seed(ctx context.Context, dbURL string, box *secretbox.Box, users, orgs, orgUsers int) (*seeded, error) {
	db, err := store.Open(dbURL, box)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return nil, err
	}
	hash, err := portal.NewHasher(1).Hash(ctx, benchPassword)
	if err != nil {
		return nil, err
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	now := time.Now().UTC().Truncate(time.Microsecond)
	epoch := now.Add(-2 * 365 * 24 * time.Hour)
	bdb := db.Bun()
	var pg *pgx.Conn // PostgreSQL: users are COPYed
	if db.Postgres() {
		if pg, err = pgx.Connect(ctx, dbURL); err != nil {
			return nil, err
		}
		defer pg.Close(context.Background())
	}
	out := &seeded{}
	roles := []access.Role{access.Admin, access.Creator, access.Creator, access.Creator, access.Viewer,
		access.Viewer, access.Viewer, access.Viewer, access.EcommerceViewer, access.EcommerceViewer}
	seq := 0
	for o := 0; o <= orgs; o++ {
		org := orgRow{ID: uuid.Must(uuid.NewV7()).String(), Name: fmt.Sprintf("Bench Org %d", o), CreatedAt: epoch}
		if _, err := bdb.NewInsert().Model(&org).Exec(ctx); err != nil {
			return nil, fmt.Errorf("seed organisation: %w", err)
		}
		n := orgUsers
		if o == 0 {
			n = users
			out.orgID = org.ID
		}
		var adminID string
		batch := make([]userRow, 0, 5000)
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			defer func() { batch = batch[:0] }()
			if pg == nil {
				_, err := bdb.NewInsert().Model(&batch).Exec(ctx)
				return err
			}
			_, err := pg.CopyFrom(ctx, pgx.Identifier{"users"}, copyColumns, pgx.CopyFromSlice(len(batch), func(i int) ([]any, error) {
				r := &batch[i]
				return []any{r.ID, r.OrgID, r.Email, r.Name, r.NameKey, r.Role, r.RoleOrder, r.Status, r.PasswordHash,
					r.TOTPSecret, r.TwoFactorEnabled, r.InvitedByID, r.CreatedAt, r.LastActiveAt, r.InvitationSentAt,
					r.SessionsNotBefore}, nil
			}))
			return err
		}
		for i := range n {
			seq++
			id := uuid.Must(uuid.NewV7()).String()
			created := epoch.Add(time.Duration(seq) * time.Minute)
			r := userRow{ID: id, OrgID: org.ID, CreatedAt: created}
			switch {
			case i == 0:
				r.Name, r.Role = fmt.Sprintf("Bench Admin %d", o), string(access.SuperAdmin)
				r.Email = fmt.Sprintf("admin@org%d.bench.example", o)
				adminID = id
			default:
				r.Name = firstNames[rng.IntN(len(firstNames))] + " " + lastNames[rng.IntN(len(lastNames))]
				r.Role = string(roles[rng.IntN(len(roles))])
				r.Email = fmt.Sprintf("u%06d@org%d.bench.example", i, o)
				r.InvitedByID = &adminID
			}
			r.NameKey = strings.ToLower(r.Name)
			r.RoleOrder = slices.Index(access.Roles, access.Role(r.Role))
			if (o == 0 && i == 0) || (i > 0 && rng.IntN(100) < 4) {
				r.Status = string(portal.StatusInvited)
				sent := created
				r.InvitationSentAt = &sent
			} else {
				r.Status = string(portal.StatusActive)
				r.PasswordHash = hash
				r.TOTPSecret = box.Seal([]byte(benchSecret), []byte(id))
				r.TwoFactorEnabled = true
				if rng.IntN(100) < 99 {
					t := now.Add(-time.Duration(rng.Int64N(int64(90 * 24 * time.Hour)))).Truncate(time.Microsecond)
					r.LastActiveAt = &t
				}
			}
			if o == 0 {
				if i == 0 {
					out.adminEmail = r.Email
				} else if r.Status == string(portal.StatusActive) {
					out.active = append(out.active, r.Email)
				}
				if i > 0 && i%7 == 3 && (r.Role == string(access.Viewer) || r.Role == string(access.Creator)) {
					out.targets = append(out.targets, target{id, access.Role(r.Role)})
				}
			}
			batch = append(batch, r)
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return nil, fmt.Errorf("seed users: %w", err)
				}
			}
		}
		if err := flush(); err != nil {
			return nil, fmt.Errorf("seed users: %w", err)
		}
		if o == 0 {
			out.inviteToken = portal.NewToken()
			t := tokenRow{ID: uuid.Must(uuid.NewV7()).String(), UserID: adminID, Kind: string(portal.TokenInvitation),
				Hash: portal.HashToken(out.inviteToken), ExpiresAt: now.Add(72 * time.Hour), CreatedAt: now}
			if _, err := bdb.NewInsert().Model(&t).Exec(ctx); err != nil {
				return nil, fmt.Errorf("seed invitation: %w", err)
			}
		}
	}
	if db.Postgres() {
		if _, err := bdb.ExecContext(ctx, "ANALYZE"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// deepCursors returns the cursors after row `row` of the main organisation
// by name and by last activity (descending), as the server makes them.
func deepCursors(ctx context.Context, dbURL string, box *secretbox.Box, orgID string, row int) (byName, byActive string, err error) {
	db, err := store.Open(dbURL, box)
	if err != nil {
		return "", "", err
	}
	defer db.Close()
	type found struct {
		ID           string     `bun:"id"`
		NameKey      string     `bun:"name_key"`
		LastActiveAt *time.Time `bun:"last_active_at"`
	}
	var u, a found
	q := "SELECT id, name_key, last_active_at FROM users WHERE org_id = ? AND removed_at IS NULL ORDER BY %s LIMIT 1 OFFSET ?"
	if err := db.Bun().NewRaw(fmt.Sprintf(q, "name_key, id"), orgID, row-1).Scan(ctx, &u); err != nil {
		return "", "", err
	}
	byName = portal.EncodeCursor(portal.Cursor{Field: portal.OrderName, ID: u.ID, Value: &u.NameKey})
	if err := db.Bun().NewRaw(fmt.Sprintf(q, "last_active_at DESC NULLS LAST, id DESC"), orgID, row-1).Scan(ctx, &a); err != nil {
		return "", "", err
	}
	c := portal.Cursor{Field: portal.OrderLastActive, Desc: true, ID: a.ID}
	if a.LastActiveAt != nil && !a.LastActiveAt.IsZero() {
		v := a.LastActiveAt.UTC().Format(time.RFC3339Nano)
		c.Value = &v
	}
	byActive = portal.EncodeCursor(c)
	return byName, byActive, nil
}
