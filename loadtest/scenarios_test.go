package main

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv/local"
)

// newMixedForTest returns a mixed run whose acknowledgements live in a
// local.Client, with a bound of 100 ms.
func newMixedForTest(t *testing.T) (*mixedRun, *worker) {
	t.Helper()
	lc, err := local.New()
	require.NoError(t, err)
	t.Cleanup(func() { lc.Close() })
	p := &process{
		job:    job{Config: config{Procs: 2, Keys: 4, StaleBound: 100 * time.Millisecond}, Prefix: "t:"},
		target: &target{client: lc, shared: lc},
	}
	m := &mixedRun{p: p, clean: make([]cleanMark, 4), seen: make([]atomic.Uint64, 4)}
	var stop atomic.Bool
	return m, newWorker(context.Background(), 0, 1, &stop)
}

func storeAck(t *testing.T, m *mixedRun, key int, version uint64, at time.Time) {
	t.Helper()
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(at.UnixNano()))
	require.NoError(t, m.p.target.shared.Set(context.Background(), m.ackKey(key, version), b, time.Minute))
}

func TestMixedStaleDefinition(t *testing.T) {
	m, w := newMixedForTest(t)
	now := time.Now()

	storeAck(t, m, 0, 6, now.Add(-time.Second))
	assert.True(t, m.stale(w, 0, 5, now), "successor acknowledged 1s before the read")

	storeAck(t, m, 1, 6, now.Add(-10*time.Millisecond))
	assert.False(t, m.stale(w, 1, 5, now), "successor acknowledged within the bound")

	assert.False(t, m.stale(w, 2, 5, now), "no successor acknowledged")
	assert.Equal(t, int64(3), w.counters["stale_checks"])
}

func TestMixedCleanMarkSkipsLookups(t *testing.T) {
	m, w := newMixedForTest(t)
	now := time.Now()
	assert.False(t, m.stale(w, 0, 5, now))
	require.Equal(t, int64(1), w.counters["stale_checks"])

	// A successor acknowledged after the lookup cannot make reads stale
	// until a bound after the lookup, so those reads need no lookup.
	storeAck(t, m, 0, 6, now)
	assert.False(t, m.stale(w, 0, 5, now.Add(50*time.Millisecond)))
	assert.Equal(t, int64(1), w.counters["stale_checks"], "read within the bound of the clean lookup")

	assert.True(t, m.stale(w, 0, 5, time.Now().Add(time.Second)))
	assert.Equal(t, int64(2), w.counters["stale_checks"], "read past the bound looks up again")
}

func TestMixedInvalidationFirstSeen(t *testing.T) {
	m, w := newMixedForTest(t)
	stamp := time.Now()
	m.noteSeen(w, 0, 3, stamp, stamp.Add(time.Millisecond))
	m.noteSeen(w, 0, 3, stamp, stamp.Add(time.Second))
	m.noteSeen(w, 0, 2, stamp, stamp.Add(time.Second))
	h := w.histogram("invalidation")
	require.Equal(t, uint64(1), h.Count(), "only the first read of a newer version counts")
	assert.InDelta(t, float64(time.Millisecond), float64(h.Max()), float64(time.Millisecond)*histRelativeError)
}

func TestSummarizeRatelimitLeavesOutReopened(t *testing.T) {
	m := newMerged()
	m.add(procResult{Counters: map[string]int64{
		"allowed:0:1": 600, "opened:0:1": 1,
		"allowed:1:1": 1000, "opened:1:1": 1,
		"allowed:0:2": 1200, "opened:0:2": 2,
	}})
	m.add(procResult{Counters: map[string]int64{"allowed:0:1": 400, "allowed:2:2": 1001, "opened:2:2": 1}})
	var r row
	summarizeRatelimit(job{Mode: modeRemote, Config: config{RateLimit: 1000}}, m, &r)
	require.NotNil(t, r.Allowed)
	assert.Equal(t, int64(1001), *r.Allowed, "the most allowed in one window, summed over processes")
	assert.Equal(t, int64(1000), *r.Limit)
	assert.Equal(t, int64(3), *r.Windows)
	assert.Equal(t, int64(1), *r.OverLimitWindows)
	assert.Contains(t, r.Note, "1 windows reopened")
}

func TestSummarizeRoundsComputesPerKey(t *testing.T) {
	m := newMerged()
	m.add(procResult{Maxima: map[string]int64{"round:1": 1, "round:2": 2}})
	m.add(procResult{Maxima: map[string]int64{"round:1": 1, "round:2": 3, "round:3": 1}})
	var r row
	summarizeRounds(job{}, m, &r)
	require.NotNil(t, r.ComputesPerKey)
	assert.InDelta(t, 5.0/3, *r.ComputesPerKey, 1e-9, "largest count per key, averaged over keys")
	assert.Equal(t, int64(3), *r.MaxComputesPerKey)
}
