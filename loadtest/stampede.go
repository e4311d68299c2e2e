package main

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// stampedeScenario sends every worker of every process at one cold key at
// the same moment, round after round, and counts how often the key's compute
// ran. Tiered mode uses GetOrCompute, which should compute once per key for
// the whole fleet; the other modes do the naive cache-aside (Get, then on a
// miss compute and Set) that GetOrCompute replaces, as the baseline.
//
// Each compute increments a counter key in Valkey before it sleeps for
// -compute-time. The value an increment returns is the number of computes of
// that round's key so far, fleet-wide, so the largest value any process saw
// is the round's total.
var stampedeScenario = &scenario{
	name:               "stampede",
	modes:              []string{modeRemote, modeTiered},
	fleet:              true,
	defaultDuration:    5 * time.Second,
	defaultConcurrency: 32,
	newRun: func(p *process) (scenarioRun, error) {
		if p.target.shared == nil {
			return nil, errors.New("stampede needs a shared Valkey to count computes")
		}
		return &roundsRun{p: p, call: stampedeCall}, nil
	},
	summarize: summarizeRounds,
}

// roundsRun runs rounds in step across the fleet: round r begins at the
// common start time plus r periods and uses a key of its own. A worker that
// is still busy when a round begins joins the next one.
type roundsRun struct {
	p    *process
	call func(r *roundsRun, w *worker, round int, key []byte) (computed bool, err error)

	mu     sync.Mutex // guards counts
	counts map[int]int64
}

// roundPeriod leaves time for the compute and for the waiters to be woken
// before the next round begins.
func (r *roundsRun) roundPeriod() time.Duration {
	return 2*r.p.job.Config.ComputeTime + 50*time.Millisecond
}

func (r *roundsRun) prepare(context.Context) error {
	r.counts = map[int]int64{}
	return nil
}

func (r *roundsRun) work(w *worker) {
	period := r.roundPeriod()
	for !w.stopped() {
		round := int(time.Since(r.p.start)/period) + 1
		time.Sleep(time.Until(r.p.start.Add(time.Duration(round) * period)))
		if w.stopped() {
			return
		}
		key := []byte(r.p.job.Prefix + "round:" + strconv.Itoa(round))
		start := time.Now()
		computed, err := r.call(r, w, round, key)
		d := w.done(start, err)
		if err != nil {
			continue
		}
		if computed {
			w.histogram("compute").Record(d)
		} else {
			w.histogram("waiter").Record(d)
		}
	}
}

// compute is the expensive function of a round's key: it counts itself in
// Valkey, notes the fleet-wide count, and takes -compute-time.
func (r *roundsRun) compute(ctx context.Context, round int) ([]byte, error) {
	counter := r.p.target.shared
	if counter == nil {
		// Local mode runs in one process, whose own client can count.
		counter = r.p.target.client
	}
	n, err := counter.Incr(ctx, []byte(r.p.job.Prefix+"computes:"+strconv.Itoa(round)))
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.counts[round] = max(r.counts[round], n)
	r.mu.Unlock()
	time.Sleep(r.p.job.Config.ComputeTime)
	return []byte("value of round " + strconv.Itoa(round)), nil
}

func stampedeCall(r *roundsRun, w *worker, round int, key []byte) (bool, error) {
	// The compute may run on another goroutine and outlive a caller that
	// gives up, so the flag is atomic.
	var computed atomic.Bool
	compute := func(ctx context.Context) ([]byte, error) {
		computed.Store(true)
		return r.compute(ctx, round)
	}
	if get := r.p.target.getOrCompute; get != nil {
		_, err := get(w.ctx, key, keyTTL, compute)
		return computed.Load(), err
	}
	c := r.p.target.client
	if _, found, err := c.Get(w.ctx, key); err != nil || found {
		return false, err
	}
	v, err := compute(w.ctx)
	if err != nil {
		return true, err
	}
	return true, c.Set(w.ctx, key, v, keyTTL)
}

func (r *roundsRun) finish(_ context.Context, res *procResult) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for round, n := range r.counts {
		res.Maxima["round:"+strconv.Itoa(round)] = n
	}
	return nil
}

// summarizeRounds reports computes per key over the rounds in which any
// compute ran, and the latency of the callers that computed and of those
// that waited.
func summarizeRounds(j job, m *merged, r *row) {
	var total, worst int64
	for _, n := range m.maxima {
		total += n
		worst = max(worst, n)
	}
	if len(m.maxima) > 0 {
		r.ComputesPerKey = ptr(float64(total) / float64(len(m.maxima)))
		r.MaxComputesPerKey = ptr(worst)
	}
	if h := m.histograms["compute"]; h != nil && h.Count() > 0 {
		r.ComputeP50US = ptr(micros(h.Quantile(0.5)))
	}
	if h := m.histograms["waiter"]; h != nil && h.Count() > 0 {
		r.WaiterP50US = ptr(micros(h.Quantile(0.5)))
		r.WaiterP99US = ptr(micros(h.Quantile(0.99)))
	}
	if r.ComputesPerKey != nil {
		r.Note = joinNote(r.Note, strconv.Itoa(len(m.maxima))+" keys")
	}
}
