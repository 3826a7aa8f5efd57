// Package redistest starts throwaway Redis topologies for tests, from the
// redis-server binary on free loopback ports with temporary directories: a
// single server, a six-node Cluster (three masters, three replicas) and a
// Sentinel set-up (a master, replicas and three sentinels). Everything is
// stopped when the test ends. It never touches a Redis it did not start.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Available reports whether redis-server (and redis-cli, for Clusters) are
// installed; tests skip when they are not.
func Available() bool {
	_, e1 := exec.LookPath("redis-server")
	_, e2 := exec.LookPath("redis-cli")
	return e1 == nil && e2 == nil
}

// Skip skips tb unless Available; with PORTAL_TEST_REQUIRE_REDIS_SERVER
// set (as .ci/run does) it fails it instead.
func Skip(tb testing.TB) {
	tb.Helper()
	if !Available() {
		if os.Getenv("PORTAL_TEST_REQUIRE_REDIS_SERVER") != "" {
			tb.Fatal("redis-server and redis-cli are required (PORTAL_TEST_REQUIRE_REDIS_SERVER is set)")
		}
		tb.Skip("redis-server and redis-cli are not installed")
	}
}

// Server is one redis-server process.
type Server struct {
	Addr string
	tb   testing.TB
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan struct{}
}

// Port returns the server's port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = &bytes.Buffer{}
	s.cmd = exec.Command("redis-server", s.args...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}
	s.done = make(chan struct{})
	cmd, done := s.cmd, s.done
	go func() { _ = cmd.Wait(); close(done) }()
	return nil
}

// Kill stops the server with SIGKILL (no chance to hand anything over) and
// waits until it has exited. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Restart starts a killed server again with the same arguments (and, for
// a Cluster node, the same node configuration file).
func (s *Server) Restart() {
	s.tb.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		s.tb.Fatal(err)
	}
	waitUp(s.tb, s.Addr)
}

// Client returns a plain client of this one server, closed at cleanup.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: time.Second, MaxRetries: -1})
	s.tb.Cleanup(func() { c.Close() })
	return c
}

func (s *Server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// StartServer starts a standalone redis-server with extra arguments.
func StartServer(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	Skip(tb)
	return startServer(tb, freePort(tb, false), tb.TempDir(), extra...)
}

func startServer(tb testing.TB, port int, dir string, extra ...string) *Server {
	tb.Helper()
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"}
	args = append(args, extra...)
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), tb: tb, args: args}
	if err := s.start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Kill()
		if tb.Failed() {
			tb.Logf("redis-server %s output (last 2000 bytes):\n%s", s.Addr, tail(s.output(), 2000))
		}
	})
	waitUp(tb, s.Addr)
	return s
}

func waitUp(tb testing.TB, addr string) {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redis-server on %s did not start: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Cluster is a Redis Cluster of three masters, each with one replica.
type Cluster struct {
	Nodes []*Server
	tb    testing.TB
}

// ClusterOptions tunes a Cluster.
type ClusterOptions struct {
	// NodeTimeout is cluster-node-timeout: how long a master may be
	// unreachable before its replica takes over. Default 15s (Redis's);
	// failover tests lower it.
	NodeTimeout time.Duration
}

// StartCluster starts six cluster-enabled servers and joins them with
// `redis-cli --cluster create --cluster-replicas 1`, then waits until
// every node reports the cluster healthy and every replica is in sync.
func StartCluster(tb testing.TB, opt ClusterOptions) *Cluster {
	tb.Helper()
	Skip(tb)
	if opt.NodeTimeout == 0 {
		opt.NodeTimeout = 15 * time.Second
	}
	c := &Cluster{tb: tb}
	var addrs []string
	for range 6 {
		dir := tb.TempDir()
		s := startServer(tb, freePort(tb, true), dir, "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", strconv.FormatInt(opt.NodeTimeout.Milliseconds(), 10),
			"--cluster-require-full-coverage", "yes")
		c.Nodes = append(c.Nodes, s)
		addrs = append(addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy(30 * time.Second)
	return c
}

// URL is the PORTAL_REDIS_URL of the Cluster, naming every node as a seed.
func (c *Cluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr + "?"
	for i, n := range c.Nodes[1:] {
		if i > 0 {
			u += "&"
		}
		u += "addr=" + n.Addr
	}
	return u
}

// Client returns a go-redis Cluster client of all nodes, closed at cleanup.
func (c *Cluster) Client() *redis.ClusterClient {
	var addrs []string
	for _, n := range c.Nodes {
		addrs = append(addrs, n.Addr)
	}
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	c.tb.Cleanup(func() { cl.Close() })
	return cl
}

// Node returns the node listening on addr, or nil.
func (c *Cluster) Node(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// Shard is a range of slots and the nodes that serve it.
type Shard struct {
	Master   *Server
	Replicas []*Server
	Slots    [][2]int
}

// Shards asks the live nodes who serves which slots.
func (c *Cluster) Shards() []Shard {
	c.tb.Helper()
	slots, err := c.anyNode(func(ctx context.Context, cl *redis.Client) ([]redis.ClusterSlot, error) {
		return cl.ClusterSlots(ctx).Result()
	})
	if err != nil {
		c.tb.Fatalf("CLUSTER SLOTS: %v", err)
	}
	byMaster := map[string]*Shard{}
	var order []string
	for _, s := range slots {
		if len(s.Nodes) == 0 {
			continue
		}
		m := s.Nodes[0].Addr
		sh := byMaster[m]
		if sh == nil {
			sh = &Shard{Master: c.Node(m)}
			for _, r := range s.Nodes[1:] {
				sh.Replicas = append(sh.Replicas, c.Node(r.Addr))
			}
			byMaster[m] = sh
			order = append(order, m)
		}
		sh.Slots = append(sh.Slots, [2]int{s.Start, s.End})
	}
	slices.Sort(order)
	var out []Shard
	for _, m := range order {
		out = append(out, *byMaster[m])
	}
	return out
}

// MasterOf returns the master serving slot.
func (c *Cluster) MasterOf(slot int) *Server {
	for _, sh := range c.Shards() {
		for _, r := range sh.Slots {
			if slot >= r[0] && slot <= r[1] {
				return sh.Master
			}
		}
	}
	return nil
}

func (c *Cluster) anyNode(fn func(context.Context, *redis.Client) ([]redis.ClusterSlot, error)) ([]redis.ClusterSlot, error) {
	var firstErr error
	for _, n := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		v, err := fn(ctx, cl)
		cancel()
		cl.Close()
		if err == nil {
			return v, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// WaitHealthy waits until every running node says cluster_state:ok, all
// 16384 slots are served, and each master has a replica in sync.
func (c *Cluster) WaitHealthy(timeout time.Duration) {
	c.tb.Helper()
	deadline := time.Now().Add(timeout)
	var why string
	for time.Now().Before(deadline) {
		if why = c.unhealthy(); why == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.tb.Fatalf("cluster not healthy after %v: %s", timeout, why)
}

func (c *Cluster) unhealthy() string {
	ctx := context.Background()
	masters := 0
	for _, n := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		info, err := cl.ClusterInfo(ctx).Result()
		role, err2 := cl.Do(ctx, "ROLE").Slice()
		slots, err3 := cl.ClusterSlots(ctx).Result()
		cl.Close()
		if err != nil || err2 != nil || err3 != nil {
			continue // a killed node
		}
		for _, r := range slots {
			// CLUSTER SLOTS lists a replica once it has caught up.
			if len(r.Nodes) < 2 {
				return fmt.Sprintf("%s: slots %d-%d have no replica listed", n.Addr, r.Start, r.End)
			}
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return n.Addr + " says " + firstLine(info)
		}
		if len(role) > 0 && role[0] == "master" {
			masters++
			if len(role) < 3 {
				return n.Addr + ": no replica list"
			}
			if reps, _ := role[2].([]any); len(reps) == 0 {
				return n.Addr + ": master without a replica in sync"
			}
		} else if len(role) > 3 && role[3] != "connected" {
			return n.Addr + ": replica " + fmt.Sprint(role[3])
		}
	}
	if masters != 3 {
		return fmt.Sprintf("%d masters", masters)
	}
	return ""
}

// WaitMaster waits until the node at addr is a master serving slots, and
// returns how long that took.
func (c *Cluster) WaitMaster(addr string, timeout time.Duration) time.Duration {
	c.tb.Helper()
	start := time.Now()
	cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer cl.Close()
	for time.Since(start) < timeout {
		role, err := cl.Do(context.Background(), "ROLE").Slice()
		if err == nil && len(role) > 0 && role[0] == "master" {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.tb.Fatalf("%s did not become master within %v", addr, timeout)
	return 0
}

// Sentinel is a master with replicas, watched by three sentinels.
type Sentinel struct {
	Name      string
	Master    *Server
	Replicas  []*Server
	Sentinels []*Server
	tb        testing.TB
}

// StartSentinel starts a master, n replicas of it and three sentinels
// (quorum 2, a master is down after downAfter without answering).
func StartSentinel(tb testing.TB, replicas int, downAfter time.Duration) *Sentinel {
	tb.Helper()
	Skip(tb)
	s := &Sentinel{Name: "portal", tb: tb}
	s.Master = startServer(tb, freePort(tb, false), tb.TempDir())
	for range replicas {
		r := startServer(tb, freePort(tb, false), tb.TempDir(),
			"--replicaof", "127.0.0.1", strconv.Itoa(s.Master.Port()))
		s.Replicas = append(s.Replicas, r)
	}
	for range 3 {
		dir := tb.TempDir()
		port := freePort(tb, false)
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 2\n"+
			"sentinel down-after-milliseconds %s %d\nsentinel failover-timeout %s 10000\nsentinel parallel-syncs %s 1\n",
			port, dir, s.Name, s.Master.Port(), s.Name, downAfter.Milliseconds(), s.Name, s.Name)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			tb.Fatal(err)
		}
		sv := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), tb: tb, args: []string{conf, "--sentinel"}}
		if err := sv.start(); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() {
			sv.Kill()
			if tb.Failed() {
				tb.Logf("sentinel %s output (last 2000 bytes):\n%s", sv.Addr, tail(sv.output(), 2000))
			}
		})
		waitUp(tb, sv.Addr)
		s.Sentinels = append(s.Sentinels, sv)
	}
	s.waitSettled(30 * time.Second)
	return s
}

// URL is the PORTAL_REDIS_URL of the set-up: every sentinel and the name.
func (s *Sentinel) URL() string {
	u := "redis://" + s.Sentinels[0].Addr + "?"
	for _, sv := range s.Sentinels[1:] {
		u += "addr=" + sv.Addr + "&"
	}
	return u + "master_name=" + s.Name
}

// MasterAddr asks a sentinel which server is the master now.
func (s *Sentinel) MasterAddr() string {
	for _, sv := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: sv.Addr, MaxRetries: -1})
		a, err := c.GetMasterAddrByName(context.Background(), s.Name).Result()
		c.Close()
		if err == nil && len(a) == 2 {
			return net.JoinHostPort(a[0], a[1])
		}
	}
	return ""
}

// waitSettled waits until every sentinel knows the replicas and the other
// sentinels, so that a failover can be agreed.
func (s *Sentinel) waitSettled(timeout time.Duration) {
	s.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for _, sv := range s.Sentinels {
			c := redis.NewSentinelClient(&redis.Options{Addr: sv.Addr, MaxRetries: -1})
			m, err := c.Master(context.Background(), s.Name).Result()
			c.Close()
			if err != nil || m["num-slaves"] != strconv.Itoa(len(s.Replicas)) || m["num-other-sentinels"] != "2" {
				ok = false
				break
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("sentinels did not settle within %v", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var portMu sync.Mutex
var portsGiven = map[int]bool{}

// freePort returns a loopback port nobody listens on; for a Cluster node
// its bus port (port+10000) is free too.
func freePort(tb testing.TB, bus bool) int {
	tb.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 1000 {
		p := 20000 + rand.IntN(35000)
		if portsGiven[p] || portsGiven[p+10000] || !free(p) || bus && !free(p+10000) {
			continue
		}
		portsGiven[p] = true
		if bus {
			portsGiven[p+10000] = true
		}
		return p
	}
	tb.Fatal("no free loopback port")
	return 0
}

func free(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func firstLine(s string) string {
	line, _, _ := bufio.NewReader(strings.NewReader(s)).ReadLine()
	return string(line)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Slot is the Cluster slot of key: CRC16 (XMODEM) of its hash tag, or of
// the whole key when it has none, modulo 16384.
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}
