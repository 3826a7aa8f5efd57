package main

// The raw baseline: what the same work costs without GraphQL, bun or
// database/sql. net/http, a native pgx pool and go-redis; the same session
// touch (the session store's Lua script on the same key), the same SQL
// statements with parameters, and byte-identical JSON, written by hand.

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/session"
	"github.com/clientportal/portal/internal/store"
)

// Environment of the baseline process.
const (
	envRaw      = "PORTAL_BENCH_RAW" // set: this process is the baseline server
	envRawAddr  = "PORTAL_BENCH_RAW_ADDR"
	envRawPG    = "PORTAL_BENCH_RAW_PG"
	envRawRedis = "PORTAL_BENCH_RAW_REDIS"
)

// The session store's key prefix in server.go.
const sessionPrefix = "portal:sess:"

type raw struct {
	pool     *pgxpool.Pool
	sessions *session.Redis

	activeMu sync.Mutex
	active   map[string]time.Time
}

// serveRaw runs the baseline until it is killed.
func serveRaw() {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(os.Getenv(envRawPG))
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConns, cfg.MinConns = 20, 20
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	opt, err := session.RedisOptions(os.Getenv(envRawRedis))
	if err != nil {
		log.Fatal(err)
	}
	rc := redis.NewUniversalClient(opt)
	s := &raw{pool: pool, sessions: session.NewRedis(rc, sessionPrefix, 5*time.Minute, 12*time.Hour),
		active: map[string]time.Time{}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /me", s.me)
	mux.HandleFunc("GET /users", s.users)
	mux.HandleFunc("POST /changeRole", s.changeRole)
	srv := &http.Server{Addr: os.Getenv(envRawAddr), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// The statements are the store's own PostgreSQL statements, so both sides
// send PostgreSQL exactly the same SQL.
const (
	sqlUser        = store.SQLUser
	sqlLockUser    = store.SQLLockUser
	sqlUsersByID   = store.SQLUsersByID
	sqlTouchActive = store.SQLTouchActive
	sqlSetRole     = store.SQLSetRole
	sqlAddAudit    = store.SQLAddAudit
	sqlDelivery    = store.SQLDeliveryFail
)

func scanUser(row pgx.Row) (*portal.User, error) {
	u, _, _, err := scanUserKeys(row)
	return u, err
}

// scanUserKeys also returns the row's sort keys (name_key, role_order).
func scanUserKeys(row pgx.Row) (*portal.User, string, int, error) {
	var (
		u                            portal.User
		nameKey, role, status        string
		roleOrder                    int
		created                      time.Time
		removed, since, la, sent, nb *time.Time
	)
	err := row.Scan(&u.ID, &u.OrgID, &u.Email, &u.Name, &nameKey, &role, &roleOrder, &status, &u.PasswordHash,
		&u.TOTPSecret, &u.TwoFactorEnabled, &u.TOTPLastStep, &u.TOTPFailures, &since, &u.InvitedByID, &created,
		&la, &sent, &nb, &removed)
	if err != nil {
		return nil, "", 0, err
	}
	u.Role, u.Status, u.CreatedAt = access.Role(role), portal.Status(status), created.UTC()
	u.TOTPFailuresSince, u.LastActiveAt, u.InvitationSentAt, u.SessionsNotBefore = utc(since), utc(la), utc(sent), utc(nb)
	return &u, nameKey, roleOrder, nil
}

// cursorOf is the cursor of a row in order o, as the store makes it.
func cursorOf(u *portal.User, nameKey string, roleOrder int, o portal.UserOrder) string {
	c := portal.Cursor{Field: o.Field, Desc: o.Desc, ID: u.ID}
	var v string
	switch o.Field {
	case portal.OrderEmail:
		v = u.Email
	case portal.OrderRole:
		v = strconv.Itoa(roleOrder)
	case portal.OrderLastActive:
		if u.LastActiveAt == nil {
			return portal.EncodeCursor(c)
		}
		v = u.LastActiveAt.UTC().Format(time.RFC3339Nano)
	case portal.OrderCreated:
		v = u.CreatedAt.UTC().Format(time.RFC3339Nano)
	default:
		v = nameKey
	}
	c.Value = &v
	return portal.EncodeCursor(c)
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

var errNoSession = errors.New("no session")

// auth is Service.Authenticate: touch the session, read its user, record
// activity at most once a minute per user.
func (s *raw) auth(r *http.Request) (*portal.Viewer, error) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, errNoSession
	}
	ctx := r.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	sess, err := s.sessions.Touch(ctx, portal.SessionKey(token), now)
	if err != nil {
		return nil, err
	}
	u, err := scanUser(s.pool.QueryRow(ctx, sqlUser, sess.UserID, sess.OrgID))
	if err != nil {
		return nil, err
	}
	if u.SessionsNotBefore != nil && sess.CreatedAt.Before(*u.SessionsNotBefore) {
		return nil, errNoSession
	}
	if sess.Stage != portal.StageFull {
		return nil, errNoSession
	}
	s.activeMu.Lock()
	last, ok := s.active[u.ID]
	write := !ok || now.Sub(last) >= time.Minute
	if write {
		s.active[u.ID] = now
	}
	s.activeMu.Unlock()
	if write {
		if _, err := s.pool.Exec(ctx, sqlTouchActive, now, u.ID, now.Add(-time.Minute)); err != nil {
			return nil, err
		}
		u.LastActiveAt = &now
	}
	return &portal.Viewer{Session: sess, User: u, Role: sess.Role}, nil
}

func fail(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(err.Error())
	_, _ = w.Write([]byte(`{"errors":[{"message":` + string(b) + `}]}`))
}

func send(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (s *raw) me(w http.ResponseWriter, r *http.Request) {
	v, err := s.auth(r)
	if err != nil {
		fail(w, http.StatusUnauthorized, err)
		return
	}
	u := v.User
	b := make([]byte, 0, 512)
	b = append(b, `{"data":{"me":{"id":`...)
	b = str(b, u.ID)
	b = append(b, `,"name":`...)
	b = str(b, u.Name)
	b = append(b, `,"email":`...)
	b = str(b, u.Email)
	b = append(b, `,"role":`...)
	b = str(b, string(u.Role))
	b = append(b, `,"status":`...)
	b = str(b, string(u.Status))
	b = append(b, `,"twoFactorEnabled":`...)
	b = strconv.AppendBool(b, u.TwoFactorEnabled)
	b = append(b, `,"lastActiveAt":`...)
	b = tm(b, u.LastActiveAt)
	b = append(b, `,"createdAt":`...)
	b = tm(b, &u.CreatedAt)
	b = append(b, "}}}"...)
	send(w, b)
}

func (s *raw) users(w http.ResponseWriter, r *http.Request) {
	v, err := s.auth(r)
	if err != nil {
		fail(w, http.StatusUnauthorized, err)
		return
	}
	if !v.Role.Has(access.ViewUsers) {
		fail(w, http.StatusForbidden, errors.New("forbidden"))
		return
	}
	q := r.URL.Query()
	n := 50
	if f := q.Get("first"); f != "" {
		if n, err = strconv.Atoi(f); err != nil || n < 1 || n > 100 {
			fail(w, http.StatusBadRequest, errors.New("first"))
			return
		}
	}
	o := portal.UserOrder{Field: portal.OrderField(q.Get("order")), Desc: q.Get("desc") == "1"}
	if o.Field == "" {
		o.Field = portal.OrderName
	}
	lq := portal.ListQuery{Order: o, Limit: n + 1}
	for _, role := range q["role"] {
		lq.Filter.Roles = append(lq.Filter.Roles, access.Role(role))
	}
	if st := q.Get("status"); st != "" {
		status := portal.Status(st)
		lq.Filter.Status = &status
	}
	if a := q.Get("after"); a != "" {
		c, err := portal.DecodeCursor(a)
		if err != nil || c.Field != o.Field || c.Desc != o.Desc {
			fail(w, http.StatusBadRequest, errors.New("after"))
			return
		}
		lq.After = c
	}
	stmts, err := store.ListStatements(v.User.OrgID, lq)
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	page := make([]*portal.User, 0, n+1)
	var lastKey string
	var lastOrder int
	for _, st := range stmts {
		st.Args[len(st.Args)-1] = n + 1 - len(page)
		rows, err := s.pool.Query(r.Context(), st.SQL, st.Args...)
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		for rows.Next() {
			u, key, order, err := scanUserKeys(rows)
			if err != nil {
				rows.Close()
				fail(w, http.StatusInternalServerError, err)
				return
			}
			if len(page) < n {
				lastKey, lastOrder = key, order
			}
			page = append(page, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		if len(page) > n {
			break
		}
	}
	hasNext := len(page) > n
	if hasNext {
		page = page[:n]
	}
	// The inviters and the delivery state of invitations: one query each.
	var inviterIDs, invitedIDs []string
	for _, u := range page {
		if u.InvitedByID != nil && !contains(inviterIDs, *u.InvitedByID) {
			inviterIDs = append(inviterIDs, *u.InvitedByID)
		}
		if u.Status == portal.StatusInvited {
			invitedIDs = append(invitedIDs, u.ID)
		}
	}
	inviters := map[string]*portal.User{}
	if len(inviterIDs) > 0 {
		rows, err := s.pool.Query(r.Context(), sqlUsersByID, v.User.OrgID, inviterIDs)
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				rows.Close()
				fail(w, http.StatusInternalServerError, err)
				return
			}
			inviters[u.ID] = u
		}
		rows.Close()
	}
	failed := map[string]bool{}
	if len(invitedIDs) > 0 {
		rows, err := s.pool.Query(r.Context(), sqlDelivery, string(portal.EmailInvitation), invitedIDs)
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		for rows.Next() {
			var id, st string
			var sent *time.Time
			if err := rows.Scan(&id, &st, &sent); err != nil {
				rows.Close()
				fail(w, http.StatusInternalServerError, err)
				return
			}
			failed[id] = st == store.OutboxFailed
		}
		rows.Close()
	}
	b := make([]byte, 0, 32<<10)
	b = append(b, `{"data":{"users":{"pageInfo":{"hasNextPage":`...)
	b = strconv.AppendBool(b, hasNext)
	b = append(b, `,"endCursor":`...)
	if len(page) == 0 {
		b = append(b, "null"...)
	} else {
		b = str(b, cursorOf(page[len(page)-1], lastKey, lastOrder, o))
	}
	b = append(b, `},"nodes":[`...)
	for i, u := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = str(b, u.ID)
		b = append(b, `,"name":`...)
		b = str(b, u.Name)
		b = append(b, `,"email":`...)
		b = str(b, u.Email)
		b = append(b, `,"role":`...)
		b = str(b, string(u.Role))
		b = append(b, `,"status":`...)
		b = str(b, string(u.Status))
		b = append(b, `,"lastActiveAt":`...)
		b = tm(b, u.LastActiveAt)
		b = append(b, `,"invitedBy":`...)
		if inv := inviterOf(inviters, u); inv != nil {
			b = append(b, `{"name":`...)
			b = str(b, inv.Name)
			b = append(b, '}')
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"invitationDeliveryFailed":`...)
		b = strconv.AppendBool(b, u.Status == portal.StatusInvited && failed[u.ID])
		a := portal.Can(v, u)
		b = append(b, `,"viewerCan":{"changeRole":`...)
		b = strconv.AppendBool(b, a.ChangeRole)
		b = append(b, `,"resendInvitation":`...)
		b = strconv.AppendBool(b, a.ResendInvitation)
		b = append(b, `,"sendPasswordReset":`...)
		b = strconv.AppendBool(b, a.SendPasswordReset)
		b = append(b, `,"resetTwoFactor":`...)
		b = strconv.AppendBool(b, a.ResetTwoFactor)
		b = append(b, `,"remove":`...)
		b = strconv.AppendBool(b, a.Remove)
		b = append(b, `},"assignableRoles":[`...)
		for j, role := range portal.AssignableRoles(v, u) {
			if j > 0 {
				b = append(b, ',')
			}
			b = str(b, string(role))
		}
		b = append(b, "]}"...)
	}
	b = append(b, "]}}}"...)
	send(w, b)
}

func inviterOf(m map[string]*portal.User, u *portal.User) *portal.User {
	if u.InvitedByID == nil {
		return nil
	}
	return m[*u.InvitedByID]
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

func (s *raw) changeRole(w http.ResponseWriter, r *http.Request) {
	var in struct {
		UserID string      `json:"userId"`
		Role   access.Role `json:"role"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || !in.Role.Valid() {
		fail(w, http.StatusBadRequest, errors.New("bad input"))
		return
	}
	v, err := s.auth(r)
	if err != nil {
		fail(w, http.StatusUnauthorized, err)
		return
	}
	ctx := r.Context()
	var target *portal.User
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		u, err := scanUser(tx.QueryRow(ctx, sqlLockUser, in.UserID, v.User.OrgID))
		if err != nil {
			return err
		}
		if !access.CanAct(v.Subject(), u.Subject(), access.ActChangeRole) {
			return errors.New("forbidden")
		}
		if u.Role == in.Role {
			return errors.New("the user already has this role")
		}
		if !access.CanChangeRole(v.Subject(), u.Subject(), in.Role) {
			return errors.New("forbidden")
		}
		before := u.Role
		u.Role = in.Role
		order := 0
		for i, x := range access.Roles {
			if x == in.Role {
				order = i
			}
		}
		if _, err := tx.Exec(ctx, sqlSetRole, string(in.Role), order, u.ID); err != nil {
			return err
		}
		now := time.Now().UTC().Truncate(time.Microsecond)
		if _, err := tx.Exec(ctx, sqlAddAudit, uuid.Must(uuid.NewV7()).String(), u.OrgID, v.User.ID, v.User.Name, v.User.Email,
			portal.AuditRoleChanged, u.ID, u.Name, u.Email, string(before), string(in.Role), nil, nil, now); err != nil {
			return err
		}
		target = u
		return nil
	})
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	b := make([]byte, 0, 128)
	b = append(b, `{"data":{"changeRole":{"user":{"id":`...)
	b = str(b, target.ID)
	b = append(b, `,"role":`...)
	b = str(b, string(target.Role))
	b = append(b, "}}}}"...)
	send(w, b)
}

// str appends s as a JSON string, escaped as gqlgen's writer does.
func str(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			const hex = "0123456789abcdef"
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func tm(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
