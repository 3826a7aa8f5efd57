// Command portal is the Client Portal user-management API server and its
// operator tool.
//
//	portal [serve]                 run the server (the default)
//	portal migrate                 apply pending database migrations
//	portal create-organization --name N --admin-email E --admin-name M
//	portal totp SECRET             print the current TOTP code (development aid)
//
// Configuration comes from PORTAL_* environment variables (see README.md).
// This file only wires adapters together; no rule lives here.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/rs/cors"

	"github.com/clientportal/portal/graph"
	"github.com/clientportal/portal/internal/config"
	"github.com/clientportal/portal/internal/console"
	"github.com/clientportal/portal/internal/health"
	"github.com/clientportal/portal/internal/mail"
	"github.com/clientportal/portal/internal/portal"
	"github.com/clientportal/portal/internal/querycache"
	"github.com/clientportal/portal/internal/secretbox"
	"github.com/clientportal/portal/internal/session"
	"github.com/clientportal/portal/internal/store"
)

func main() {
	if err := run(context.Background(), os.Args[1:], config.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "portal:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if cmd == "totp" {
		return totpCommand(args, stdout)
	}
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log)
	case "migrate":
		a, err := openApp(ctx, cfg, log, true)
		if err != nil {
			return err
		}
		defer a.close()
		return nil
	case "create-organization":
		return createOrganization(ctx, cfg, log, args, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: portal [serve | migrate | create-organization --name N --admin-email E --admin-name M | totp SECRET]")
		return nil
	}
	return fmt.Errorf("unknown command %q (try: serve, migrate, create-organization, totp)", cmd)
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	if cfg.Production() {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// app is the wired application: adapters plus the service.
type app struct {
	cfg      *config.Config
	log      *slog.Logger
	db       *store.DB
	redis    redis.UniversalClient
	sessions portal.SessionStore
	memory   *session.Memory // set in the embedded mode, for its janitor
	svc      *portal.Service
	worker   *mail.Worker
	apq      graphql.Cache[string] // nil: in memory
}

func openApp(ctx context.Context, cfg *config.Config, log *slog.Logger, migrate bool) (*app, error) {
	key, err := cfg.Key()
	if err != nil {
		return nil, err
	}
	box, err := secretbox.New(key)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(cfg.DatabaseURL, box)
	if err != nil {
		return nil, fmt.Errorf("PORTAL_DATABASE_URL: %w", err)
	}
	a := &app{cfg: cfg, log: log, db: db}
	if migrate {
		names, err := db.Migrate(ctx)
		if err != nil {
			db.Close()
			return nil, err
		}
		for _, n := range names {
			log.Info("applied migration", "name", n)
		}
	}
	clock := portal.SystemClock{}
	var limiter portal.Limiter
	if cfg.RedisURL != "" {
		client, err := session.NewRedisClient(cfg.RedisURL)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("PORTAL_REDIS_URL: %w", err)
		}
		a.redis = client
		redis.SetLogger(session.RedisLogger(log))
		a.sessions = session.NewRedis(a.redis, "portal:sess:", cfg.IdleTimeout, cfg.MaxAge)
		limiter = session.NewRedisLimiter(a.redis, "portal:")
		a.apq = querycache.NewRedis(a.redis, "portal:apq:", 24*time.Hour)
	} else {
		a.memory = session.NewMemory(cfg.IdleTimeout, cfg.MaxAge)
		a.sessions = a.memory
		limiter = session.NewMemoryLimiter(clock)
	}
	var sender mail.Sender = mail.NewLog(log)
	if cfg.SMTPURL != "" {
		var opts []mail.SMTPOption
		if cfg.Production() {
			opts = append(opts, mail.RequireTLS())
		}
		if sender, err = mail.NewSMTP(cfg.SMTPURL, cfg.SMTPFrom, 30*time.Second, opts...); err != nil {
			a.close()
			return nil, fmt.Errorf("PORTAL_SMTP_URL: %w", err)
		}
	}
	a.worker = mail.NewWorker(db, sender, clock, mail.Options{Lease: cfg.OutboxLease}, log)
	pcfg := portal.DefaultConfig()
	pcfg.PublicURL = cfg.PublicURL
	pcfg.RoleChange = portal.RoleChangeMode(cfg.RoleChange)
	pcfg.AuditRetention, _ = cfg.Retention() // checked by config.Load
	hashers := max(2, runtime.NumCPU())
	a.svc = portal.New(pcfg, db, a.sessions, limiter, clock, portal.NewHasher(hashers), box, log)
	a.svc.Notify = a.worker.Notify
	return a, nil
}

func (a *app) close() {
	if a.redis != nil {
		a.redis.Close()
	}
	a.db.Close()
}

// dependencies watches the database and the session store: requests are
// answered 503 while either is unreachable, /readyz fails, and each
// failing one is logged once per interval with its cause.
func (a *app) dependencies() *health.Monitor {
	return health.New(a.log, health.Options{},
		health.Probe{Name: "database", Ping: a.db.Ping},
		health.Probe{Name: "session store", Ping: a.sessions.Ping})
}

// routes is the HTTP surface of DESIGN.md section 8.
func (a *app) routes(draining *atomic.Bool, deps *health.Monitor, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	proxies, _ := a.cfg.Proxies() // checked by config.Load
	origins, _ := a.cfg.Origins() // checked by config.Load
	gql := graph.NewHandler(a.svc, graph.Options{Dev: !a.cfg.Production(), SecureCookies: a.cfg.SecureCookies(),
		CookieSameSite: a.cfg.SameSite(), CookieMaxAge: a.cfg.MaxAge, TrustedProxies: proxies, APQCache: a.apq,
		Dependencies: deps, Log: a.log})
	mux.Handle("/graphql", allowOrigins(origins, gql))
	// The web console, in production too.
	web := console.Handler(console.Options{IdleTimeout: a.cfg.IdleTimeout, RoleChangeImmediate: a.cfg.RoleChange == "immediate"})
	mux.Handle("GET /{$}", web)
	mux.Handle("GET /accept-invitation", web)
	mux.Handle("GET /reset-password", web)
	mux.Handle("GET /assets/", web)
	if !a.cfg.Production() {
		graphiql := graph.Playground("/graphql")
		mux.Handle("GET /graphiql", graphiql)
		mux.Handle("GET /graphiql/assets/", graphiql)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		// A check now (the monitor logs what fails), not the last one.
		if err := deps.Check(r.Context()); err != nil {
			w.Header().Set("Retry-After", strconv.Itoa(graph.RetryAfterSeconds))
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if a.cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", metricsHandler(reg))
	}
	return instrument(reg, secure(mux))
}

// allowOrigins lets browser pages on origins (and only those) call next
// with credentials. Preflights from any other origin get no grant, and with
// no origins listed only same-origin pages can read the answers.
func allowOrigins(origins []string, next http.Handler) http.Handler {
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		allowed[o] = true
	}
	return cors.New(cors.Options{
		// Never cors' default of every origin: an empty list allows none.
		AllowOriginFunc:  func(origin string) bool { return allowed[strings.ToLower(origin)] },
		AllowCredentials: true,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:   []string{"Content-Type", "Authorization", "Accept"},
		ExposedHeaders:   []string{"Retry-After"}, // with 503 and RATE_LIMITED answers
		MaxAge:           600,
	}).Handler(next)
}

// secure gives every answer the browser-facing security headers; the
// console and GraphiQL pages replace the Content-Security-Policy with their
// own (just as strict: no inline script, nothing from another origin).
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		console.SecurityHeaders(w.Header(), "default-src 'none'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// instrument counts requests and their latency per route and status.
func instrument(reg *prometheus.Registry, next http.Handler) http.Handler {
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "portal_http_request_duration_seconds",
		Help: "HTTP request latency by route and status."}, []string{"route", "code"})
	reg.MustRegister(dur)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.URL.Path
		switch route {
		case "/graphql", "/graphiql", "/healthz", "/readyz", "/metrics", "/", "/accept-invitation", "/reset-password":
		default:
			route = "other"
		}
		dur.WithLabelValues(route, fmt.Sprint(sw.code)).Observe(time.Since(start).Seconds())
	})
}

// outboxCollector reports the outbox's messages by status on each scrape,
// so that emails piling up (SMTP down) or failing can be alerted on.
type outboxCollector struct{ db *store.DB }

var outboxDesc = prometheus.NewDesc("portal_outbox_messages", "Outbox emails by status.", []string{"status"}, nil)

func (c outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- outboxDesc }

func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.db.OutboxCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(outboxDesc, err)
		return
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(n), status)
	}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	a, err := openApp(ctx, cfg, log, cfg.MigrateOnStart)
	if err != nil {
		return err
	}
	defer a.close()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}),
		outboxCollector{a.db})
	var draining atomic.Bool
	deps := a.dependencies()
	srv := &http.Server{Addr: cfg.Addr, Handler: a.routes(&draining, deps, reg),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("PORTAL_ADDR: %w", err)
	}

	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	workerDone := make(chan struct{})
	go func() { defer close(workerDone); _ = a.worker.Run(workerCtx) }()
	if a.memory != nil {
		go a.memory.Run(workerCtx, portal.SystemClock{}, time.Minute)
	}
	go a.svc.RunAuditPruner(workerCtx, time.Hour)
	go deps.Run(workerCtx)

	served := make(chan error, 2)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "env", cfg.Env, "database", dbKind(cfg), "sessions", sessKind(cfg),
		"graphiql", !cfg.Production())
	if cfg.MetricsAddr != "" {
		// Metrics on their own listener, kept off the public address.
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			_ = srv.Close()
			stopWorker()
			<-workerDone
			return fmt.Errorf("PORTAL_METRICS_ADDR: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metricsHandler(reg))
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { served <- msrv.Serve(mln) }()
		defer msrv.Close()
		log.Info("serving metrics", "addr", mln.Addr().String())
	}

	select {
	case err := <-served:
		stopWorker()
		<-workerDone
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining requests")
	draining.Store(true)
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutCtx)
	a.svc.WaitActivity() // last-active writes still running
	stopWorker()         // lets an in-flight email finish
	<-workerDone
	a.svc.Flush() // audit entries of the last failed logins
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}

func dbKind(cfg *config.Config) string {
	if store.IsPostgres(cfg.DatabaseURL) {
		return "postgres"
	}
	return "sqlite:" + cfg.DatabaseURL
}

func sessKind(cfg *config.Config) string {
	if cfg.RedisURL != "" {
		return "redis"
	}
	return "memory"
}

func createOrganization(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("create-organization", flag.ContinueOnError)
	name := fs.String("name", "", "organisation name")
	email := fs.String("admin-email", "", "email of its first Super Admin")
	adminName := fs.String("admin-name", "", "name of its first Super Admin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, log, cfg.MigrateOnStart)
	if err != nil {
		return err
	}
	defer a.close()
	org, u, link, err := a.svc.CreateOrganization(ctx, *name, *email, *adminName)
	if err != nil {
		var de *portal.Error
		if errors.As(err, &de) {
			if de.Field != "" {
				return fmt.Errorf("--%s: %s", de.Field, de.Message)
			}
			return errors.New(de.Message)
		}
		return err
	}
	// Deliver the queued invitation now: the server's worker would too,
	// but the operator should see it go.
	if _, err := a.worker.Tick(ctx); err != nil {
		log.Warn("invitation email not sent yet; the server will retry", "err", err)
	}
	fmt.Fprintf(stdout, "Created organisation %q (%s) and its Super Admin %s (%s), INVITED.\n", org.Name, org.ID, u.Email, u.ID)
	fmt.Fprintf(stdout, "Invitation link (valid 72 hours, single use):\n%s\n", link)
	return nil
}

// totpCommand prints the current code for a TOTP secret. It is a
// development aid for trying the API without a phone; never a way in.
func totpCommand(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: portal totp SECRET (development aid: prints the current code)")
	}
	code, err := portal.TOTPCode(args[0], time.Now())
	if err != nil {
		return fmt.Errorf("not a base32 TOTP secret: %w", err)
	}
	fmt.Fprintln(stdout, code)
	return nil
}
