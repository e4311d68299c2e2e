package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Final check: after the measured period, the hottest finalCheckKeys keys
// and as many spread over the key set are read through the side and
// compared with the server. A client-side cache may take a moment to apply
// its last invalidations, so a mismatch is read again until
// finalCheckTimeout has passed.
const (
	finalCheckKeys    = 50
	finalCheckTimeout = time.Second
)

// row is the result of one side in one round of the workload.
type row struct {
	Round       int     `json:"round"`
	Side        string  `json:"side"`
	Concurrency int     `json:"concurrency"`
	DurationS   float64 `json:"duration_s"`
	Ops         uint64  `json:"ops"`
	Reads       uint64  `json:"reads"`
	Writes      uint64  `json:"writes"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	P50US       float64 `json:"p50_us"`
	P99US       float64 `json:"p99_us"`
	MaxUS       float64 `json:"max_us"`
	// HitRatio is the share of reads served from process memory, for the
	// sides that have a cache, as the client counts it. JoinedRatio is the
	// share of reads that waited for another call's server read of the same
	// key, which only the tiered client counts apart (see hitCounts).
	HitRatio    *float64 `json:"hit_ratio,omitempty"`
	JoinedRatio *float64 `json:"joined_ratio,omitempty"`
	Errors      uint64   `json:"errors"`
	FirstError  string   `json:"first_error,omitempty"`
	// WrongValues counts reads that returned a value that is not a value of
	// their key, and MissingValues reads that found no value for a key that
	// was preloaded and never deleted.
	WrongValues   uint64 `json:"wrong_values"`
	MissingValues uint64 `json:"missing_values"`
	// FinalMismatches counts the keys of the final check whose value read
	// through the side still differed from the server's at the deadline.
	FinalMismatches int `json:"final_mismatches"`
	// Failure is set when the side could not be measured at all.
	Failure string `json:"failure,omitempty"`
}

// correct reports whether every value the side returned was right.
func (r row) correct() bool {
	return r.Failure == "" && r.WrongValues == 0 && r.MissingValues == 0 && r.FinalMismatches == 0
}

// makeValue builds a value of size bytes that starts with its key and a tag,
// so that a read can tell whether it got a value of the key it asked for.
// The caller keeps size at least minValueSize.
func makeValue(k cacheKey, tag string, size int) []byte {
	v := make([]byte, 0, size)
	v = append(v, k.s...)
	v = append(v, '|')
	v = append(v, tag...)
	v = append(v, '|')
	for len(v) < size {
		v = append(v, '.')
	}
	return v[:size]
}

func validValue(k cacheKey, v []byte, size int) bool {
	return len(v) == size && bytes.HasPrefix(v, k.b) && len(v) > len(k.b) && v[len(k.b)] == '|'
}

// sideKeys returns the key set of one side. Each side gets its own prefix,
// so that nothing one side wrote can be mistaken for another's.
func sideKeys(side string, n int) []cacheKey {
	keys := make([]cacheKey, n)
	for i := range keys {
		keys[i] = newCacheKey("peers:" + side + ":" + strconv.Itoa(i))
	}
	return keys
}

// workerResult holds the latencies and counts of one worker goroutine.
type workerResult struct {
	latency             *histogram
	reads, writes, errs uint64
	wrong, missing      uint64
	firstError          string
}

// runSide measures one side: it empties the server, preloads the key set,
// opens a fresh client, runs cfg.Concurrency workers for cfg.Duration, and
// then runs the final check.
func runSide(ctx context.Context, cfg config, addr string, ld *loader, side string, round int, progress io.Writer) (r row) {
	r = row{Round: round, Side: side, Concurrency: cfg.Concurrency}
	keys := sideKeys(side, cfg.Keys)
	if err := ld.flush(ctx); err != nil {
		r.Failure = err.Error()
		return r
	}
	initial := func(k cacheKey) []byte { return makeValue(k, "init", cfg.ValueSize) }
	if err := ld.preload(ctx, keys, initial); err != nil {
		r.Failure = err.Error()
		return r
	}
	st, err := openStore(ctx, side, addr, cfg.CacheTTL)
	if err != nil {
		r.Failure = "open: " + err.Error()
		return r
	}
	defer func() {
		if err := st.close(); err != nil && r.Failure == "" {
			r.Failure = "close: " + err.Error()
		}
	}()

	fmt.Fprintf(progress, "round %d, %s: %d workers for %v over %d keys\n", round, side, cfg.Concurrency, cfg.Duration, cfg.Keys)
	before, hasCache := st.hitStats()
	results, elapsed := runWorkers(ctx, cfg, st, keys)
	after, _ := st.hitStats()

	total := newHistogram()
	for _, w := range results {
		total.merge(w.latency)
		r.Reads += w.reads
		r.Writes += w.writes
		r.Errors += w.errs
		r.WrongValues += w.wrong
		r.MissingValues += w.missing
		if r.FirstError == "" {
			r.FirstError = w.firstError
		}
	}
	r.Ops = r.Reads + r.Writes
	r.DurationS = elapsed.Seconds()
	r.OpsPerSec = float64(r.Ops) / elapsed.Seconds()
	r.P50US = micros(total.quantile(0.50))
	r.P99US = micros(total.quantile(0.99))
	r.MaxUS = micros(total.quantile(1))
	if lookups := after.lookups - before.lookups; hasCache && lookups > 0 {
		hits := float64(after.hits-before.hits) / float64(lookups)
		joined := float64(after.joined-before.joined) / float64(lookups)
		r.HitRatio, r.JoinedRatio = &hits, &joined
	}
	r.FinalMismatches, err = finalCheck(ctx, st, ld, checkedKeys(keys))
	if err != nil {
		r.Failure = "final check: " + err.Error()
	}
	return r
}

// runWorkers runs the workload on st and returns each worker's result and
// the time from the start until the last worker stopped.
func runWorkers(ctx context.Context, cfg config, st store, keys []cacheKey) ([]*workerResult, time.Duration) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	results := make([]*workerResult, cfg.Concurrency)
	start := time.Now()
	for id := range cfg.Concurrency {
		res := &workerResult{latency: newHistogram()}
		results[id] = res
		wg.Go(func() { work(ctx, cfg, st, keys, id, &stop, res) })
	}
	timer := time.NewTimer(cfg.Duration)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
	}
	stop.Store(true)
	wg.Wait()
	return results, time.Since(start)
}

// work is one worker's loop. Its random stream depends only on the seed
// and the worker id, so every side gets the same sequence of keys and of
// reads and writes, as far as it gets through it.
func work(ctx context.Context, cfg config, st store, keys []cacheKey, id int, stop *atomic.Bool, res *workerResult) {
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(id)))
	zipf := rand.NewZipf(rng, cfg.ZipfS, 1, uint64(len(keys)-1))
	tagPrefix := "w" + strconv.Itoa(id) + "."
	for !stop.Load() && ctx.Err() == nil {
		k := keys[zipf.Uint64()]
		if rng.Float64() < cfg.ReadRatio {
			start := time.Now()
			v, found, err := st.get(ctx, k)
			res.latency.record(time.Since(start))
			res.reads++
			switch {
			case err != nil:
				res.fail(err)
			case !found:
				res.missing++
			case !validValue(k, v, cfg.ValueSize):
				res.wrong++
			}
			continue
		}
		v := makeValue(k, tagPrefix+strconv.FormatUint(res.writes, 10), cfg.ValueSize)
		start := time.Now()
		err := st.set(ctx, k, v)
		res.latency.record(time.Since(start))
		res.writes++
		if err != nil {
			res.fail(err)
		}
	}
}

func (w *workerResult) fail(err error) {
	w.errs++
	if w.firstError == "" {
		w.firstError = err.Error()
	}
}

// checkedKeys returns the keys of the final check: the hottest ones, which
// took most of the writes, and some spread over the rest.
func checkedKeys(keys []cacheKey) []cacheKey {
	n := min(finalCheckKeys, len(keys))
	checked := append([]cacheKey(nil), keys[:n]...)
	step := max(len(keys)/finalCheckKeys, 1)
	for i := n; i < len(keys) && len(checked) < 2*finalCheckKeys; i += step {
		checked = append(checked, keys[i])
	}
	return checked
}

// valueReader reads a key's value as the server has it.
type valueReader interface {
	get(ctx context.Context, k cacheKey) (value []byte, found bool, err error)
}

// finalCheck reads every key through st and through server and returns how
// many still differed at the deadline.
func finalCheck(ctx context.Context, st store, server valueReader, keys []cacheKey) (int, error) {
	deadline := time.Now().Add(finalCheckTimeout)
	pending := keys
	for {
		var differ []cacheKey
		for _, k := range pending {
			want, wantFound, err := server.get(ctx, k)
			if err != nil {
				return 0, err
			}
			got, gotFound, err := st.get(ctx, k)
			if err != nil {
				return 0, err
			}
			if gotFound != wantFound || !bytes.Equal(got, want) {
				differ = append(differ, k)
			}
		}
		if len(differ) == 0 || time.Now().After(deadline) {
			return len(differ), nil
		}
		pending = differ
		time.Sleep(10 * time.Millisecond)
	}
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
