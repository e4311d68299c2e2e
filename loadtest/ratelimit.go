package main

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/patterns"
)

// ratelimitScenario sends every worker of every process at a few keys through
// patterns.RateLimit (fixed window) and counts the requests allowed per key
// and window, fleet-wide; the target is exactly -rate-limit when demand
// exceeds it. Raw mode sends a plain INCR per request instead, the floor
// that any limiter built on a counter pays, so its rate is the INCR/s to
// compare the checks/s against.
//
// Windows are aligned across the fleet: the run is cut into epochs of one
// window length from the common start time, and each epoch uses a fresh
// limiter key. The limiter's window starts at the first request of the epoch
// and lasts a full window, so it covers the rest of the epoch and every
// request of the epoch counts against that one window. A request sent at
// the very end of an epoch but delayed past the key's expiry would open a
// second window under the same key, so workers send nothing in the last
// 5 % of each epoch, and an epoch in which the limiter reports a new window
// (count 1) more than once is counted as reopened and left out of the
// allowed and over-limit figures.
var ratelimitScenario = &scenario{
	name:               "ratelimit",
	modes:              []string{modeLocal, modeRemote, modeRaw, modeTiered},
	fleet:              true,
	defaultDuration:    5 * time.Second,
	defaultConcurrency: 32,
	defaultKeys:        4,
	newRun: func(p *process) (scenarioRun, error) {
		return &ratelimitRun{p: p}, nil
	},
	summarize: summarizeRatelimit,
}

type ratelimitRun struct {
	p *process
	// limiter is the client RateLimit runs on. Tiered mode uses its L2 when
	// the tiered client is not a kv.TTLCounter, since a limiter's counter
	// must be shared by the fleet and never cached in L1.
	limiter kv.Client
	note    string
}

func (r *ratelimitRun) prepare(context.Context) error {
	r.limiter = r.p.target.client
	if _, ok := r.limiter.(kv.TTLCounter); !ok && r.p.target.mode == modeTiered {
		r.limiter = r.p.target.shared
	}
	return nil
}

func (r *ratelimitRun) work(w *worker) {
	c := r.p.job.Config
	prefix := r.p.job.Prefix + "rl"
	guard := c.RateWindow / 20
	for !w.stopped() {
		k := w.rng.IntN(c.Keys)
		since := time.Since(r.p.start)
		epoch := int(since / c.RateWindow)
		if next := time.Duration(epoch+1) * c.RateWindow; next-since < guard {
			time.Sleep(next - since)
			continue
		}
		key := strconv.Itoa(k) + ":" + strconv.Itoa(epoch)
		start := time.Now()
		if r.p.target.mode == modeRaw {
			_, err := r.limiter.Incr(w.ctx, []byte(prefix+":"+key))
			w.done(start, err)
			continue
		}
		if r.limiter != r.p.target.client {
			w.counters["limiter_on_l2"] = 1
		}
		res, err := patterns.RateLimit(w.ctx, r.limiter, key, c.RateLimit, c.RateWindow, patterns.WithRateLimitPrefix(prefix))
		w.done(start, err)
		if err != nil {
			continue
		}
		if res.Allowed {
			w.counters["allowed:"+key]++
		}
		if res.Count == 1 {
			w.counters["opened:"+key]++
		}
	}
}

func (r *ratelimitRun) finish(context.Context, *procResult) error { return nil }

func summarizeRatelimit(j job, m *merged, r *row) {
	if j.Mode == modeRaw {
		r.Note = joinNote(r.Note, "plain INCR per request, no limiter")
		return
	}
	var windows, over, maxAllowed, reopened int64
	for name, n := range m.counters {
		key, ok := strings.CutPrefix(name, "allowed:")
		if !ok {
			continue
		}
		if m.counters["opened:"+key] > 1 {
			reopened++
			continue
		}
		windows++
		maxAllowed = max(maxAllowed, n)
		if n > int64(j.Config.RateLimit) {
			over++
		}
	}
	r.Allowed = ptr(maxAllowed)
	r.Limit = ptr(int64(j.Config.RateLimit))
	r.Windows = ptr(windows)
	r.OverLimitWindows = ptr(over)
	if reopened > 0 {
		r.Note = joinNote(r.Note, strconv.FormatInt(reopened, 10)+" windows reopened by late requests, left out")
	}
	if m.counters["limiter_on_l2"] > 0 {
		r.Note = joinNote(r.Note, "limiter on L2")
	}
}
