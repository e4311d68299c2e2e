package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// keyTTL is the expiry of every key the scenarios write, so that a run
// against an existing deployment leaves nothing behind for long.
const keyTTL = 10 * time.Minute

// job is one scenario run in one mode with every default resolved. The
// runner hands the same job to each fleet process, with Index and the
// worker slice set per process.
type job struct {
	Config   config `json:"config"`
	Scenario string `json:"scenario"`
	Mode     string `json:"mode"`
	// Prefix starts every key of this run, so that runs never see each
	// other's keys on a shared server.
	Prefix string `json:"prefix"`
	// Index is this process's position in the fleet, from 0.
	Index int `json:"index"`
	// Workers is this process's share of the concurrency; FirstWorker is
	// the fleet-wide number of its first worker.
	Workers     int `json:"workers"`
	FirstWorker int `json:"first_worker"`
	// Seed makes the workers' random streams differ between runs.
	Seed uint64 `json:"seed"`
}

// process is one OS process's part of a job: the job, the client of its
// mode and the scenario's state.
type process struct {
	job    job
	target *target
	// start is the wall-clock time at which the measured period began, the
	// same in every process of a fleet, so that scenarios can run rounds in
	// step across processes.
	start time.Time
}

// worker is one goroutine of a scenario. Its histograms and counters are
// its own, so recording needs no lock. ops and errs are atomic because the
// progress line reads them while the worker runs.
type worker struct {
	id         int
	rng        *rand.Rand
	latency    *Histogram
	histograms map[string]*Histogram
	counters   map[string]int64
	ops        atomic.Uint64
	errs       atomic.Uint64
	firstError string
	stop       *atomic.Bool
	ctx        context.Context
}

func newWorker(ctx context.Context, id int, seed uint64, stop *atomic.Bool) *worker {
	return &worker{
		id:         id,
		rng:        rand.New(rand.NewPCG(seed, uint64(id))),
		latency:    newHistogram(),
		histograms: map[string]*Histogram{},
		counters:   map[string]int64{},
		stop:       stop,
		ctx:        ctx,
	}
}

// stopped reports whether the measured period is over.
func (w *worker) stopped() bool { return w.stop.Load() }

// done records one operation that started at start. An error that comes
// from the run being interrupted is not the backend's fault and is not
// counted.
func (w *worker) done(start time.Time, err error) time.Duration {
	d := time.Since(start)
	if err != nil {
		if w.ctx.Err() != nil {
			return d
		}
		if w.errs.Add(1) == 1 {
			w.firstError = err.Error()
		}
	}
	w.latency.Record(d)
	w.ops.Add(1)
	return d
}

// histogram returns the worker's histogram of that name.
func (w *worker) histogram(name string) *Histogram {
	h, ok := w.histograms[name]
	if !ok {
		h = newHistogram()
		w.histograms[name] = h
	}
	return h
}

// scenarioRun is one process's instance of a scenario.
type scenarioRun interface {
	// prepare runs before the measured period, for example to preload keys.
	prepare(ctx context.Context) error
	// work runs in each worker goroutine until w.stopped() reports true.
	work(w *worker)
	// finish adds process-wide measurements to res after the workers end.
	finish(ctx context.Context, res *procResult) error
}

// progressFunc receives the time measured and the operations and errors
// counted so far.
type progressFunc func(elapsed time.Duration, ops, errs uint64)

// runProcess runs this process's share of a job: prepare, wait for start,
// run the workers for the duration, and collect the result. start is called
// after prepare and returns when the measured period may begin.
func runProcess(ctx context.Context, p *process, start func() error, progress progressFunc) (procResult, error) {
	sc, _ := scenarioByName(p.job.Scenario)
	run, err := sc.newRun(p)
	if err != nil {
		return procResult{}, err
	}
	if err := run.prepare(ctx); err != nil {
		return procResult{}, fmt.Errorf("prepare %s: %w", p.job.Scenario, err)
	}
	if err := start(); err != nil {
		return procResult{}, err
	}

	var stop atomic.Bool
	workers := make([]*worker, p.job.Workers)
	for i := range workers {
		workers[i] = newWorker(ctx, p.job.FirstWorker+i, p.job.Seed, &stop)
	}
	hits0, misses0 := p.target.l1Counts()
	events0 := p.target.eventCounts()
	began := time.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { run.work(w) })
	}
	waitMeasured(ctx, p.job.Config.Duration, began, workers, progress)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(began)
	hits1, misses1 := p.target.l1Counts()
	events1 := p.target.eventCounts()

	res := collect(workers, elapsed)
	if p.target.l1Stats != nil {
		res.Counters["l1_hits"] += int64(hits1 - hits0)
		res.Counters["l1_misses"] += int64(misses1 - misses0)
	}
	for name, n := range events1 {
		if d := int64(n - events0[name]); d > 0 {
			res.Counters[eventPrefix+name] += d
		}
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if err := run.finish(ctx, &res); err != nil {
		return res, fmt.Errorf("finish %s: %w", p.job.Scenario, err)
	}
	return res, nil
}

// waitMeasured returns after duration or on interruption, calling progress
// every half second with the totals so far.
func waitMeasured(ctx context.Context, duration time.Duration, began time.Time, workers []*worker, progress progressFunc) {
	timer := time.NewTimer(duration)
	defer timer.Stop()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case <-tick.C:
			if progress != nil {
				var ops, errs uint64
				for _, w := range workers {
					ops += w.ops.Load()
					errs += w.errs.Load()
				}
				progress(time.Since(began), ops, errs)
			}
		}
	}
}

func collect(workers []*worker, elapsed time.Duration) procResult {
	lat := newHistogram()
	hists := map[string]*Histogram{}
	res := procResult{ElapsedNS: int64(elapsed), Counters: map[string]int64{}, Maxima: map[string]int64{}}
	for _, w := range workers {
		res.Ops += w.ops.Load()
		res.Errors += w.errs.Load()
		if res.FirstError == "" {
			res.FirstError = w.firstError
		}
		lat.Merge(w.latency)
		for name, h := range w.histograms {
			if hists[name] == nil {
				hists[name] = newHistogram()
			}
			hists[name].Merge(h)
		}
		for name, v := range w.counters {
			res.Counters[name] += v
		}
	}
	res.Latency = lat.wire()
	res.Histograms = map[string]histogramWire{}
	for name, h := range hists {
		res.Histograms[name] = h.wire()
	}
	return res
}

// progressLine prints the live status of a run to w about once a second.
// The rate is over the last interval, so a stall shows at once.
type progressLine struct {
	w     io.Writer
	label string
	total time.Duration

	mu          sync.Mutex // guards lastElapsed and lastOps
	lastElapsed time.Duration
	lastOps     uint64
}

func newProgressLine(w io.Writer, label string, total time.Duration) *progressLine {
	return &progressLine{w: w, label: label, total: total}
}

func (p *progressLine) update(elapsed time.Duration, ops, errs uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	interval := elapsed - p.lastElapsed
	if interval < 900*time.Millisecond {
		return
	}
	rate := float64(ops-p.lastOps) / interval.Seconds()
	p.lastElapsed, p.lastOps = elapsed, ops
	fmt.Fprintf(p.w, "  %s %4.1fs/%v  %s ops/s  errors %d\n", p.label, elapsed.Seconds(), p.total, formatRate(rate), errs)
}

// errInterrupted reports a run stopped by a signal.
var errInterrupted = errors.New("interrupted")
