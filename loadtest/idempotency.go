package main

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/patterns"
)

// idempotencyScenario sends every worker of every process the same request,
// under one idempotency key per round, through patterns.IdempotentExecute,
// and counts how often the handler ran; the target is exactly once per key.
// Rounds, compute counting and the compute time work as in the stampede
// scenario. The duplicates that did not run the handler must get its result
// back as a replay.
var idempotencyScenario = &scenario{
	name:               "idempotency",
	modes:              []string{modeLocal, modeRemote, modeTiered},
	fleet:              true,
	defaultDuration:    5 * time.Second,
	defaultConcurrency: 32,
	newRun: func(p *process) (scenarioRun, error) {
		return &roundsRun{p: p, call: idempotentCall}, nil
	},
	summarize: summarizeIdempotency,
}

// idempotencyStore returns the client IdempotentExecute runs on: the mode's
// client when it is a kv.Swapper, which the claim needs, and otherwise (tiered)
// its L2, where the claim must live anyway so that every process reads it.
func idempotencyStore(t *target) kv.Client {
	if _, ok := t.client.(kv.Swapper); ok || t.shared == nil {
		return t.client
	}
	return t.shared
}

func idempotentCall(r *roundsRun, w *worker, round int, key []byte) (bool, error) {
	// The compute may run on another goroutine and outlive a caller that
	// gives up, so the flag is atomic.
	var computed atomic.Bool
	handler := func(ctx context.Context) (string, error) {
		computed.Store(true)
		v, err := r.compute(ctx, round)
		return string(v), err
	}
	store := idempotencyStore(r.p.target)
	if store != r.p.target.client {
		w.counters["claims_on_l2"] = 1
	}
	res, err := patterns.IdempotentExecute(w.ctx, store, string(key), handler,
		patterns.WithIdempotencyPrefix(r.p.job.Prefix+"idem"), patterns.WithIdempotencyTTL(keyTTL))
	if err == nil && res.Replay {
		w.counters["replays"]++
	}
	return computed.Load(), err
}

func summarizeIdempotency(j job, m *merged, r *row) {
	summarizeRounds(j, m, r)
	r.Replays = ptr(m.counters["replays"])
	if m.counters["claims_on_l2"] > 0 {
		r.Note = joinNote(r.Note, "claims on L2")
	}
}
