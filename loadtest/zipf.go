package main

import (
	"context"
	"math/rand/v2"
	"time"
)

// zipfScenario reads keys drawn from a Zipf distribution, so that a few keys
// take most of the reads as in a real cache, and writes a share of
// 1 - read-ratio, over a key set preloaded before the measured period.
var zipfScenario = &scenario{
	name:               "zipf",
	modes:              allModes,
	defaultDuration:    15 * time.Second,
	defaultConcurrency: 32,
	defaultKeys:        100_000,
	newRun: func(p *process) (scenarioRun, error) {
		return &zipfRun{p: p}, nil
	},
	summarize: summarizeZipf,
}

type zipfRun struct {
	p    *process
	keys [][]byte
}

func (z *zipfRun) prepare(ctx context.Context) error {
	c := z.p.job.Config
	z.keys = make([][]byte, c.Keys)
	for i := range z.keys {
		z.keys[i] = keyName(z.p.job.Prefix, i)
	}
	// Every process fills its own local cache; a shared Valkey needs
	// filling once.
	if z.p.job.Index > 0 && z.p.target.shared != nil {
		return nil
	}
	value := make([]byte, c.ValueSize)
	return preload(ctx, z.p.target.loader, z.keys, func(int) []byte { return value })
}

func (z *zipfRun) work(w *worker) {
	c := z.p.job.Config
	client := z.p.target.client
	zipf := rand.NewZipf(w.rng, c.ZipfS, 1, uint64(len(z.keys)-1))
	value := fillRandom(w, c.ValueSize)
	var reads, found int64
	for !w.stopped() {
		key := z.keys[zipf.Uint64()]
		start := time.Now()
		if w.rng.Float64() < c.ReadRatio {
			_, ok, err := client.Get(w.ctx, key)
			w.done(start, err)
			reads++
			if ok {
				found++
			}
			continue
		}
		err := client.Set(w.ctx, key, value, keyTTL)
		w.done(start, err)
	}
	w.counters["reads"] += reads
	w.counters["found"] += found
}

func (z *zipfRun) finish(context.Context, *procResult) error { return nil }

// summarizeZipf reports the L1 hit ratio: from the tier's own statistics
// where it has them, and otherwise, in local mode, as the share of reads
// that found their key, since every key was preloaded and only eviction
// makes a read miss.
func summarizeZipf(j job, m *merged, r *row) {
	if hits, misses := m.counters["l1_hits"], m.counters["l1_misses"]; hits+misses > 0 {
		r.L1HitRatio = ptr(float64(hits) / float64(hits+misses))
	} else if j.Mode == modeLocal && m.counters["reads"] > 0 {
		r.L1HitRatio = ptr(float64(m.counters["found"]) / float64(m.counters["reads"]))
	}
}
