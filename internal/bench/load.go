package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// request is one HTTP request of a workload.
type request struct {
	method, path string
	body         []byte
	token        string // bearer token, or ""
	xff          string // X-Forwarded-For, or ""
	ok           func() // called after a successful answer, or nil
}

// gen returns worker w's i-th request.
type gen func(w, i int) request

// result is one timed run of one side of one workload.
type result struct {
	reqs, errs int
	firstErr   string
	elapsed    time.Duration
	lat        []time.Duration // sorted
	cpu        time.Duration
	allocs     float64
	peakRSS    int64
}

func (r result) rps() float64 { return float64(r.reqs) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))]
}

func (r result) cpuPerReq() time.Duration {
	if r.reqs == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.reqs)
}

func (r result) allocsPerReq() float64 {
	if r.reqs == 0 {
		return 0
	}
	return r.allocs / float64(r.reqs)
}

func newClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: time.Minute, DisableCompression: true}}
}

// do sends one request and returns the answer's body; a status other than
// 200 or a GraphQL error in the body is an error.
func do(ctx context.Context, client *http.Client, addr string, rq request) ([]byte, error) {
	var body io.Reader
	if rq.body != nil {
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, "http://"+addr+rq.path, body)
	if err != nil {
		return nil, err
	}
	if rq.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	if rq.xff != "" {
		req.Header.Set("X-Forwarded-For", rq.xff)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || bytes.Contains(b, []byte(`"errors"`)) {
		return b, fmt.Errorf("%s %s: HTTP %d: %.300s", rq.method, rq.path, resp.StatusCode, b)
	}
	return b, nil
}

// load runs conns workers against p for d and measures it.
func load(ctx context.Context, client *http.Client, p *proc, next gen, conns int, d time.Duration) (result, error) {
	before, err := p.sample(client)
	if err != nil {
		return result{}, err
	}
	p.resetPeak()
	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		errs     atomic.Int64
		firstErr atomic.Value
		lats     = make([][]time.Duration, conns)
	)
	start := time.Now()
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				rq := next(w, i)
				t := time.Now()
				_, err := do(ctx, client, p.addr, rq)
				lats[w] = append(lats[w], time.Since(t))
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				if rq.ok != nil {
					rq.ok()
				}
			}
		}()
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	after, err := p.sample(client)
	if err != nil {
		return result{}, err
	}
	r := result{elapsed: elapsed, errs: int(errs.Load()), cpu: after.cpu - before.cpu,
		allocs: after.allocs - before.allocs, peakRSS: p.status("VmHWM")}
	if s, ok := firstErr.Load().(string); ok {
		r.firstErr = s
	}
	for _, l := range lats {
		r.lat = append(r.lat, l...)
	}
	slices.Sort(r.lat)
	r.reqs = len(r.lat) - r.errs
	return r, nil
}

// median returns the median, minimum and maximum of xs.
func median(xs []float64) (med, lo, hi float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

// medianResult is the run with the median rate among rs, for the
// per-side figures (req/s, latency, CPU, allocations, peak RSS).
func medianResult(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int {
		switch {
		case a.rps() < b.rps():
			return -1
		case a.rps() > b.rps():
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}
