package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/clientportal/portal/internal/access"
	"github.com/clientportal/portal/internal/portal"
)

// workload is one measured operation: the request to our server and the
// same work asked of the baseline.
type workload struct {
	name    string
	ours    gen
	raw     gen  // nil: no baseline
	login   bool // compared with the argon2id ceiling instead
	compare func(ctx context.Context, c *http.Client, e *env) error
}

const (
	meQuery   = `{ me { id name email role status twoFactorEnabled lastActiveAt createdAt } }`
	pageQuery = `query($first: Int, $after: String, $filter: UserFilter, $order: UserOrder) {
  users(first: $first, after: $after, filter: $filter, orderBy: $order) {
    pageInfo { hasNextPage endCursor }
    nodes { id name email role status lastActiveAt invitedBy { name } invitationDeliveryFailed
      viewerCan { changeRole resendInvitation sendPasswordReset resetTwoFactor remove } assignableRoles }
  }
}`
	changeRoleQuery = `mutation($i: ChangeRoleInput!) { changeRole(input: $i) { user { id role } } }`
	loginStepQuery  = `mutation($i: LoginInput!) { login(input: $i) { step } }`
)

// perWorker is how many changeRole targets each worker owns.
const perWorker = 8

func workloads(o options, e *env) []workload {
	post := func(body []byte, token string) request {
		return request{method: "POST", path: "/graphql", body: body, token: token}
	}
	get := func(path, token string) request { return request{method: "GET", path: path, token: token} }
	meBody := gql(meQuery, nil)
	wls := []workload{{
		name: "me, 1 session",
		ours: func(w, i int) request { return post(meBody, e.admin) },
		raw:  func(w, i int) request { return get("/me", e.admin) },
	}, {
		name: fmt.Sprintf("me, %d sessions", len(e.tokens)),
		ours: func(w, i int) request { return post(meBody, e.tokens[(w*7919+i)%len(e.tokens)]) },
		raw:  func(w, i int) request { return get("/me", e.tokens[(w*7919+i)%len(e.tokens)]) },
	}}
	page := func(name string, order map[string]any, after string, filter map[string]any, rawQS string) workload {
		vars := map[string]any{"first": 50, "order": order}
		if after != "" {
			vars["after"] = after
		}
		if filter != nil {
			vars["filter"] = filter
		}
		body := gql(pageQuery, vars)
		path := "/users?" + rawQS
		return workload{name: name,
			ours: func(w, i int) request { return post(body, e.admin) },
			raw:  func(w, i int) request { return get(path, e.admin) }}
	}
	byName := map[string]any{"field": "NAME", "direction": "ASC"}
	byActive := map[string]any{"field": "LAST_ACTIVE_AT", "direction": "DESC"}
	deepRow := o.users * 9 / 10
	wls = append(wls,
		page("users page, by name", byName, "", nil, queryString("first", "50", "order", "NAME")),
		page(fmt.Sprintf("users page, by name, after row %d", deepRow), byName, e.deepName, nil,
			queryString("first", "50", "order", "NAME", "after", e.deepName)),
		page("users page, by last active", byActive, "", nil, queryString("first", "50", "order", "LAST_ACTIVE_AT", "desc", "1")),
		page(fmt.Sprintf("users page, by last active, after row %d", deepRow), byActive, e.deepActive, nil,
			queryString("first", "50", "order", "LAST_ACTIVE_AT", "desc", "1", "after", e.deepActive)),
		page("users page, filtered (VIEWER, ACTIVE)", byName, "", map[string]any{"roles": []string{"VIEWER"}, "status": "ACTIVE"},
			queryString("first", "50", "order", "NAME", "role", "VIEWER", "status", "ACTIVE")),
	)
	targets := e.data.targets
	maxConns := 0
	for _, c := range o.conns {
		maxConns = max(maxConns, c)
	}
	if len(targets) >= maxConns*perWorker+2 {
		flip := func(t *target) access.Role {
			if t.role == access.Viewer {
				return access.Creator
			}
			return access.Viewer
		}
		next := func(w, i int, mk func(id string, role access.Role) request) request {
			t := &targets[w*perWorker+i%perWorker]
			role := flip(t)
			rq := mk(t.id, role)
			rq.ok = func() { t.role = role }
			return rq
		}
		wls = append(wls, workload{name: "changeRole",
			ours: func(w, i int) request {
				return next(w, i, func(id string, role access.Role) request {
					return post(gql(changeRoleQuery, map[string]any{"i": map[string]any{"userId": id, "role": role}}), e.admin)
				})
			},
			raw: func(w, i int) request {
				return next(w, i, func(id string, role access.Role) request {
					b := fmt.Appendf(nil, `{"userId":%q,"role":%q}`, id, role)
					return request{method: "POST", path: "/changeRole", body: b, token: e.admin}
				})
			},
			compare: compareChangeRole,
		})
	}
	logins := e.data.active[min(len(e.tokens), len(e.data.active)-1):]
	wls = append(wls, workload{name: "login", login: true,
		ours: func(w, i int) request {
			email := logins[int(ipSeq.Load()+int64(w*31+i))%len(logins)]
			return request{method: "POST", path: "/graphql", xff: nextIP(),
				body: gql(loginStepQuery, map[string]any{"i": map[string]any{"email": email, "password": benchPassword}})}
		}})
	return wls
}

// compareSame checks that both sides answer a workload's request with the
// same bytes (after one request each, which may record activity).
func compareSame(ctx context.Context, c *http.Client, e *env, wl workload) error {
	var bodies [2][]byte
	for k := range 2 {
		for side, p := range []*proc{e.ours, e.raw} {
			g := wl.ours
			if side == 1 {
				g = wl.raw
			}
			b, err := do(ctx, c, p.addr, g(0, 0))
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			if k == 1 {
				bodies[side] = b
			}
		}
	}
	return sameBytes(bodies[0], bodies[1])
}

func sameBytes(ours, raw []byte) error {
	if bytes.Equal(ours, raw) {
		return nil
	}
	i := 0
	for i < len(ours) && i < len(raw) && ours[i] == raw[i] {
		i++
	}
	from := max(0, i-60)
	return fmt.Errorf("the answers differ at byte %d:\n  ours: ...%s\n  raw:  ...%s", i,
		ours[from:min(len(ours), i+60)], raw[from:min(len(raw), i+60)])
}

// compareChangeRole gives two users of the same role the same new role,
// one through each side, and compares the answers with the ids swapped.
func compareChangeRole(ctx context.Context, c *http.Client, e *env) error {
	ts := e.data.targets
	a, b := &ts[len(ts)-1], (*target)(nil)
	for i := len(ts) - 2; i >= 0 && b == nil; i-- {
		if ts[i].role == a.role {
			b = &ts[i]
		}
	}
	role := access.Creator
	if a.role == access.Creator {
		role = access.Viewer
	}
	ours, err := do(ctx, c, e.ours.addr, request{method: "POST", path: "/graphql", token: e.admin,
		body: gql(changeRoleQuery, map[string]any{"i": map[string]any{"userId": a.id, "role": role}})})
	if err != nil {
		return fmt.Errorf("ours: %w", err)
	}
	a.role = role
	raw, err := do(ctx, c, e.raw.addr, request{method: "POST", path: "/changeRole", token: e.admin,
		body: fmt.Appendf(nil, `{"userId":%q,"role":%q}`, b.id, role)})
	if err != nil {
		return fmt.Errorf("raw: %w", err)
	}
	b.role = role
	return sameBytes(ours, bytes.ReplaceAll(raw, []byte(b.id), []byte(a.id)))
}

// row is the measurements of one workload at one concurrency.
type row struct {
	workload string
	conns    int
	ours     []result
	raw      []result  // paired with ours, or empty
	ceiling  []float64 // login: the argon2id ceiling measured before each run
	hashCPU  []time.Duration
}

type section struct {
	name              string
	rows              []*row
	void              []string
	idleOurs, idleRaw int64
	hashTime          time.Duration
	hasRaw            bool
}

// measure runs every workload against e's servers, A/B alternately.
func measure(ctx context.Context, o options, e *env, c *http.Client, rep *report) *section {
	sec := &section{name: e.name, idleOurs: e.idleOurs, idleRaw: e.idleRaw, hasRaw: e.raw != nil}
	hasher := portal.NewHasher(1)
	hash, _ := hasher.Hash(ctx, benchPassword)
	warm := min(o.duration/3, 500*time.Millisecond)
	for _, wl := range workloads(o, e) {
		if o.only != nil && !o.only.MatchString(wl.name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(o.out, "%s: %s ...\n", e.name, wl.name)
		withRaw := wl.raw != nil && e.raw != nil
		if withRaw {
			var err error
			if wl.compare != nil {
				err = wl.compare(ctx, c, e)
			} else {
				err = compareSame(ctx, c, e, wl)
			}
			if err != nil {
				sec.void = append(sec.void, fmt.Sprintf("%s: ours and raw do not give the same answer: %v", wl.name, err))
			}
		}
		for _, conns := range o.conns {
			rw := &row{workload: wl.name, conns: conns}
			run := func(p *proc, g gen, d time.Duration) result {
				r, err := load(ctx, c, p, g, conns, d)
				if err != nil {
					sec.void = append(sec.void, fmt.Sprintf("%s at %d: measuring %s: %v", wl.name, conns, p.name, err))
				}
				if r.errs > 0 {
					sec.void = append(sec.void, fmt.Sprintf("%s at %d conns: %s had %d failed requests of %d; first: %s",
						wl.name, conns, p.name, r.errs, r.errs+r.reqs, r.firstErr))
				}
				return r
			}
			// Warm both sides up (pools, caches) before the timed rounds.
			if !wl.login {
				run(e.ours, wl.ours, warm)
				if withRaw {
					run(e.raw, wl.raw, warm)
				}
			}
			for round := range o.rounds {
				if ctx.Err() != nil {
					break
				}
				switch {
				case wl.login:
					t, cpu := hashTime(ctx, hasher, hash)
					sec.hashTime = t
					rw.ceiling = append(rw.ceiling, float64(runtime.NumCPU())/t.Seconds())
					rw.hashCPU = append(rw.hashCPU, cpu)
					rw.ours = append(rw.ours, run(e.ours, wl.ours, o.duration))
				case !withRaw:
					rw.ours = append(rw.ours, run(e.ours, wl.ours, o.duration))
				case round%2 == 0:
					ours := run(e.ours, wl.ours, o.duration)
					rw.raw = append(rw.raw, run(e.raw, wl.raw, o.duration))
					rw.ours = append(rw.ours, ours)
				default:
					raw := run(e.raw, wl.raw, o.duration)
					rw.ours = append(rw.ours, run(e.ours, wl.ours, o.duration))
					rw.raw = append(rw.raw, raw)
				}
			}
			if len(rw.ours) > 0 {
				sec.rows = append(sec.rows, rw)
			}
		}
	}
	return sec
}

// targets prints the targets against this section's figures.
func (s *section) targets(w io.Writer, o options) {
	fmt.Fprintln(w, "\ntargets (ours/raw as the median of pairs; issue 11):")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	byName := map[string]*row{}
	for _, rw := range s.rows {
		byName[fmt.Sprint(rw.workload, "@", rw.conns)] = rw
	}
	for _, rw := range s.rows {
		var want float64
		switch {
		case strings.HasPrefix(rw.workload, "me"):
			want = 0.85
		case strings.HasPrefix(rw.workload, "users page"):
			want = 0.75
		case rw.workload == "changeRole":
			want = 0.85
		case rw.workload == "login":
			want = 0.9
		default:
			continue
		}
		var rates, p99s, cpus []float64
		for i := range rw.ours {
			switch {
			case len(rw.raw) > i:
				rates = append(rates, rw.ours[i].rps()/rw.raw[i].rps())
				p99s = append(p99s, float64(rw.ours[i].pct(0.99))/float64(rw.raw[i].pct(0.99)))
				cpus = append(cpus, float64(rw.raw[i].cpuPerReq())/float64(rw.ours[i].cpuPerReq()))
			case len(rw.ceiling) > i:
				rates = append(rates, rw.ours[i].rps()/rw.ceiling[i])
				cpus = append(cpus, float64(rw.hashCPU[i])/float64(rw.ours[i].cpuPerReq()))
			}
		}
		m, _, _ := median(rates)
		c, _, _ := median(cpus)
		line := fmt.Sprintf("  %-44s %3d conns: req/s %.2f (>= %.2f) %s, by CPU %.2f %s", rw.workload, rw.conns, m, want,
			verdict(m >= want), c, verdict(c >= want))
		if rw.conns >= 32 && len(p99s) > 0 {
			pm, _, _ := median(p99s)
			line += fmt.Sprintf("; p99 %.2fx raw (<= 1.5) %s", pm, verdict(pm <= 1.5))
		}
		if strings.HasPrefix(rw.workload, "users page") {
			a := medianResult(rw.ours).allocsPerReq()
			line += fmt.Sprintf("; %.0f allocations (<= 2000) %s", a, verdict(a <= 2000))
		}
		if i := strings.Index(rw.workload, ", after row"); i > 0 {
			if first, ok := byName[fmt.Sprint(rw.workload[:i], "@", rw.conns)]; ok {
				var xs []float64
				for k := range min(len(first.ours), len(rw.ours)) {
					xs = append(xs, first.ours[k].rps()/rw.ours[k].rps())
				}
				d, _, _ := median(xs)
				line += fmt.Sprintf("; deep/first %.2fx (<= 1.1) %s", d, verdict(d <= 1.1))
			}
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "  idle RSS %s (<= 40 MiB) %s\n", mib(s.idleOurs), verdict(s.idleOurs <= 40<<20))
}

// hashTime is the time of one argon2id check on one core, here and now:
// elapsed, and CPU time of this process, which does nothing else meanwhile
// (the machine's load does not inflate it).
func hashTime(ctx context.Context, h *portal.Hasher, hash string) (wall, cpu time.Duration) {
	const n = 4
	c0 := processCPU()
	t := time.Now()
	for range n {
		_, _ = h.Check(ctx, benchPassword, hash)
	}
	return time.Since(t) / n, (processCPU() - c0) / n
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type report struct {
	o            options
	started      time.Time
	load1, load2 string
	pg, embedded *section
}

func (r *report) void() bool {
	for _, s := range []*section{r.pg, r.embedded} {
		if s != nil && len(s.void) > 0 {
			return true
		}
	}
	return false
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
func mib(b int64) string        { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n=== portal benchmark: %d users in the main organisation + %d x %d; %d rounds of %s, A/B alternating; %d CPUs; load average %s at start, %s at end ===\n",
		r.o.users, r.o.orgs, r.o.orgUsers, r.o.rounds, r.o.duration, runtime.NumCPU(), r.load1, r.load2)
	var pgOurs map[string]result
	for _, s := range []*section{r.pg, r.embedded} {
		if s == nil {
			continue
		}
		fmt.Fprintf(w, "\n--- %s ---\n", s.name)
		fmt.Fprintf(w, "idle RSS (1 s after start): ours %s", mib(s.idleOurs))
		if s.hasRaw {
			fmt.Fprintf(w, ", raw %s", mib(s.idleRaw))
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "%-44s %5s %-5s %10s %9s %9s %10s %11s %10s\n", "workload", "conns", "side", "req/s", "p50", "p99", "CPU/req", "allocs/req", "peak RSS")
		medians := map[string]result{}
		for _, rw := range s.rows {
			line := func(side string, res result) {
				fmt.Fprintf(w, "%-44s %5d %-5s %10.0f %9s %9s %10s %11.0f %10s\n", rw.workload, rw.conns, side,
					res.rps(), ms(res.pct(0.50)), ms(res.pct(0.99)), ms(res.cpuPerReq()), res.allocsPerReq(), mib(res.peakRSS))
			}
			mo := medianResult(rw.ours)
			medians[fmt.Sprint(rw.workload, rw.conns)] = mo
			line("ours", mo)
			switch {
			case len(rw.raw) > 0:
				line("raw", medianResult(rw.raw))
				var rates, p99s, cpus []float64
				for i := range rw.raw {
					rates = append(rates, rw.ours[i].rps()/rw.raw[i].rps())
					p99s = append(p99s, float64(rw.ours[i].pct(0.99))/float64(rw.raw[i].pct(0.99)))
					cpus = append(cpus, float64(rw.raw[i].cpuPerReq())/float64(rw.ours[i].cpuPerReq()))
				}
				m, lo, hi := median(rates)
				pm, plo, phi := median(p99s)
				cm, clo, chi := median(cpus)
				fmt.Fprintf(w, "%-44s %5d ours/raw req/s %.2f (%.2f-%.2f), p99 %.2fx (%.2f-%.2f), CPU/req raw/ours %.2f (%.2f-%.2f) over %d pairs\n",
					rw.workload, rw.conns, m, lo, hi, pm, plo, phi, cm, clo, chi, len(rates))
			case len(rw.ceiling) > 0:
				var rates []float64
				for i := range rw.ours {
					rates = append(rates, rw.ours[i].rps()/rw.ceiling[i])
				}
				var cpus []float64
				for i := range rw.ours {
					cpus = append(cpus, float64(rw.hashCPU[i])/float64(rw.ours[i].cpuPerReq()))
				}
				m, lo, hi := median(rates)
				c, _, _ := median(rw.ceiling)
				cm, clo, chi := median(cpus)
				fmt.Fprintf(w, "%-44s %5d ours/argon2id ceiling %.2f (%.2f-%.2f); ceiling %.0f/s = %d CPUs / %s per hash; by CPU: one hash / CPU per login %.2f (%.2f-%.2f)\n",
					rw.workload, rw.conns, m, lo, hi, c, runtime.NumCPU(), ms(s.hashTime), cm, clo, chi)
			}
			if pgOurs != nil {
				if pg, ok := pgOurs[fmt.Sprint(rw.workload, rw.conns)]; ok && pg.rps() > 0 {
					fmt.Fprintf(w, "%-44s %5d embedded/PostgreSQL (ours) req/s %.2f\n", rw.workload, rw.conns, mo.rps()/pg.rps())
				}
			}
		}
		if pgOurs == nil {
			pgOurs = medians
			if s.hasRaw {
				s.targets(w, r.o)
			}
		}
		if len(s.void) > 0 {
			fmt.Fprintf(w, "\n!!!!!!!! THIS RUN IS VOID: %d problem(s) !!!!!!!!\n", len(s.void))
			for _, v := range s.void {
				fmt.Fprintln(w, "  VOID:", strings.ReplaceAll(v, "\n", "\n        "))
			}
		}
	}
	if r.void() {
		fmt.Fprintln(w, "\n!!!!!!!! VOID: some requests failed or the answers differ; the figures above prove nothing !!!!!!!!")
	} else {
		fmt.Fprintln(w, "\nno request failed; ours and raw gave byte-identical answers")
	}
}
