package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleRows() []row {
	return []row{
		{Scenario: "zipf", Mode: "tiered", Procs: 1, Concurrency: 32, Ops: 1000, OpsPerSec: 123456, P50US: 1.5, P99US: 80, P999US: 900, L1HitRatio: ptr(0.875)},
		{
			Scenario: "mixed", Mode: "tiered", Procs: 2, Concurrency: 16, OpsPerSec: 5000,
			InvalidationP50US: ptr(150.0), InvalidationP99US: ptr(2500.0), InvalidationMaxUS: ptr(9000.0), StaleReads: ptr(int64(0)), StaleBoundUS: ptr(100_000.0), Writes: ptr(int64(42)),
		},
		{Scenario: "ratelimit", Mode: "remote", Procs: 2, Concurrency: 16, Allowed: ptr(int64(1000)), Limit: ptr(int64(1000)), Windows: ptr(int64(20)), OverLimitWindows: ptr(int64(0))},
		{Scenario: "stampede", Mode: "tiered", Procs: 2, Concurrency: 16, ComputesPerKey: ptr(1.0), MaxComputesPerKey: ptr(int64(1)), WaiterP50US: ptr(21000.0), WaiterP99US: ptr(23000.0), ComputeP50US: ptr(20100.0)},
		{Scenario: "zipf", Mode: "raw", Note: "failed: connection refused", FirstError: "dial tcp"},
	}
}

func TestWriteTableShowsFields(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, writeTable(&buf, sampleRows()))
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	require.Len(t, lines, 6, "header and one line per row")
	assert.Contains(t, lines[0], "p99.9 µs")
	assert.Contains(t, lines[1], "123k")
	assert.Contains(t, lines[1], "87.5%")
	assert.Contains(t, lines[1], "1.50")
	assert.Contains(t, lines[2], "invalidation p50/p99/max 150/2500/9000 µs")
	assert.Contains(t, lines[2], "stale reads 0 (bound 100ms)")
	assert.Contains(t, lines[3], "allowed 1000 / limit 1000 per window (20 windows, 0 over)")
	assert.Contains(t, lines[4], "computes/key 1.00 (max 1)")
	assert.Contains(t, lines[5], "failed: connection refused")
	assert.Contains(t, lines[5], "first error: dial tcp")
}

func TestWriteJSONFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	require.NoError(t, writeJSONFile(path, sampleRows()))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var got []map[string]any
	require.NoError(t, json.Unmarshal(data, &got))
	require.Len(t, got, 5)

	for _, obj := range got {
		for _, field := range []string{"scenario", "mode", "ops_per_sec", "p50_us", "p99_us", "p999_us", "errors"} {
			assert.Contains(t, obj, field)
		}
	}
	assert.Equal(t, 0.875, got[0]["l1_hit_ratio"])
	assert.NotContains(t, got[1], "l1_hit_ratio", "fields that do not apply are left out")
	assert.Equal(t, 2500.0, got[1]["invalidation_p99_us"])
	assert.Equal(t, 0.0, got[1]["stale_reads"], "a zero that applies is kept")
	assert.Equal(t, 1000.0, got[2]["allowed"])
	assert.Equal(t, 1000.0, got[2]["limit"])
	assert.Equal(t, 1.0, got[3]["computes_per_key"])
}

func TestWriteJSONEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	require.NoError(t, writeJSONFile(path, nil))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "[]\n", string(data))
}

func TestFillLatencyFromMerged(t *testing.T) {
	m := newMerged()
	h := newHistogram()
	for i := range 1000 {
		h.Record(time.Duration(i+1) * time.Microsecond)
	}
	m.add(procResult{Ops: 600, ElapsedNS: int64(2 * time.Second), Latency: h.wire(), Errors: 1, FirstError: "boom"})
	m.add(procResult{Ops: 400, ElapsedNS: int64(time.Second), Latency: newHistogram().wire()})
	var r row
	r.fillLatency(m)
	assert.Equal(t, uint64(1000), r.Ops)
	assert.Equal(t, 500.0, r.OpsPerSec, "processes run side by side, so the longest elapsed time counts")
	assert.InDelta(t, 500, r.P50US, 500*histRelativeError)
	assert.InDelta(t, 990, r.P99US, 990*histRelativeError)
	assert.InDelta(t, 999, r.P999US, 999*histRelativeError)
	assert.Equal(t, uint64(1), r.Errors)
	assert.Equal(t, "boom", r.FirstError)
}

func TestMergedMaximaAndCounters(t *testing.T) {
	m := newMerged()
	m.add(procResult{Maxima: map[string]int64{"a": 1, "b": 3}, Counters: map[string]int64{"stale_reads": 2}})
	m.add(procResult{Maxima: map[string]int64{"a": 2, "b": 1}, Counters: map[string]int64{"stale_reads": 1}})
	assert.Equal(t, map[string]int64{"a": 2, "b": 3}, m.maxima)
	assert.Equal(t, int64(3), m.counters["stale_reads"])
}

func TestEventNoteListsCountedEvents(t *testing.T) {
	m := newMerged()
	m.add(procResult{Counters: map[string]int64{eventPrefix + "L1 resets": 2, "reads": 10}})
	m.add(procResult{Counters: map[string]int64{eventPrefix + "failed publishes": 1}})
	assert.Equal(t, "2 L1 resets, 1 failed publishes", eventNote(m))
	assert.Empty(t, eventNote(newMerged()))
}

func TestJoinNote(t *testing.T) {
	assert.Equal(t, "a; b", joinNote("a", "b"))
	assert.Equal(t, "a", joinNote("a", ""))
	assert.Equal(t, "b", joinNote("", "b"))
}
