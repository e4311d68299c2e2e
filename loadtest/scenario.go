package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/derp-kv/kv"
)

// scenario is one workload the runner can drive.
type scenario struct {
	name string
	// modes lists the modes the scenario supports, in report order.
	modes []string
	// fleet is true when the scenario is about many processes sharing one
	// Valkey. Such a scenario defaults to 2 processes. It skips local mode
	// when there is more than one, because local shares nothing between
	// processes.
	fleet              bool
	defaultDuration    time.Duration
	defaultConcurrency int
	defaultKeys        int
	newRun             func(p *process) (scenarioRun, error)
	// summarize turns the merged results of all processes into the row's
	// scenario fields.
	summarize func(j job, m *merged, r *row)
}

// scenarios lists every scenario in the order of the default suite.
var scenarios = []*scenario{zipfScenario, mixedScenario, stampedeScenario, ratelimitScenario, idempotencyScenario}

func scenarioNames() []string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.name
	}
	return names
}

func scenarioByName(name string) (*scenario, bool) {
	for _, s := range scenarios {
		if s.name == name {
			return s, true
		}
	}
	return nil, false
}

// keyName returns the key of index i under prefix.
func keyName(prefix string, i int) []byte {
	return strconv.AppendInt([]byte(prefix), int64(i), 10)
}

// preloadBatch is how many keys one MSet carries while preloading. Larger
// batches can outlast remote's 250 ms default request timeout on a busy
// machine, mostly in cluster mode, where MSet with a TTL is one SET per key.
const preloadBatch = 200

// preloadAttempts is how often a failed preload batch is sent before the
// run gives up; writes of a batch may be repeated safely.
const preloadAttempts = 3

// preload stores value(i) under each of keys with the loader's MSet.
func preload(ctx context.Context, c kv.Client, keys [][]byte, value func(i int) []byte) error {
	items := make([]kv.Item, 0, preloadBatch)
	for i, k := range keys {
		items = append(items, kv.Item{Key: k, Value: value(i)})
		if len(items) < preloadBatch && i < len(keys)-1 {
			continue
		}
		var err error
		for range preloadAttempts {
			if err = c.MSet(ctx, items, keyTTL); err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("preload %d keys: %w", len(keys), err)
		}
		items = items[:0]
	}
	return nil
}

// fillRandom returns n random bytes from the worker's stream.
func fillRandom(w *worker, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(w.rng.Uint32())
	}
	return b
}
