package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain checks, after every test, that the clients, the workers and the
// valkey-server's process waiter have all stopped.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRunMeasuresEverySide runs the whole program for a second per side
// against its own valkey-server and checks that each side did reads and
// writes, returned only values of the keys it was asked for, and agreed
// with the server afterwards.
func TestRunMeasuresEverySide(t *testing.T) {
	jsonPath := filepath.Join(t.TempDir(), "peers.json")
	var stdout, stderr bytes.Buffer
	code := run([]string{
		"-duration", "1s", "-keys", "500", "-concurrency", "4",
		"-coherence-rounds", "10", "-json", jsonPath,
	}, &stdout, &stderr)
	require.Equal(t, 0, code, "stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())

	data, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var rep report
	require.NoError(t, json.Unmarshal(data, &rep))
	assert.NotEmpty(t, rep.ValkeyVersion)

	var sides []string
	for _, r := range rep.Workload {
		sides = append(sides, r.Side)
		assert.Empty(t, r.Failure, r.Side)
		assert.Positive(t, r.Reads, "%s: reads", r.Side)
		assert.Positive(t, r.Writes, "%s: writes", r.Side)
		assert.Zero(t, r.Errors, "%s: errors (first: %s)", r.Side, r.FirstError)
		assert.Zero(t, r.WrongValues, "%s: wrong values", r.Side)
		assert.Zero(t, r.MissingValues, "%s: missing values", r.Side)
		assert.Zero(t, r.FinalMismatches, "%s: final mismatches", r.Side)
		cached := r.Side == sideTiered || r.Side == sideRueidisCache
		if assert.Equal(t, cached, r.HitRatio != nil, "%s: hit ratio", r.Side) && cached {
			assert.Positive(t, *r.HitRatio, "%s: hit ratio", r.Side)
		}
		assert.Contains(t, stdout.String(), r.Side)
	}
	assert.Equal(t, allSides, sides)

	require.Len(t, rep.Coherence, 2)
	for _, c := range rep.Coherence {
		assert.Empty(t, c.Failure, c.Side)
		assert.Zero(t, c.Errors, "%s: coherence errors (first: %s)", c.Side, c.FirstError)
		assert.Positive(t, c.Measured, "%s: measured rounds", c.Side)
		assert.Positive(t, c.P50US, "%s: delay p50", c.Side)
	}
}

// memoryStore is a store in a map, standing in for the server and, with
// a fault set, for a client that returns wrong values.
type memoryStore struct {
	mu     sync.Mutex
	values map[string][]byte
	// swapValues makes get return the value of the key's neighbour, and
	// ignoreWrites makes set keep the old value while reporting success.
	swapValues, ignoreWrites bool
}

func newMemoryStore(keys []cacheKey, size int) *memoryStore {
	s := &memoryStore{values: map[string][]byte{}}
	for _, k := range keys {
		s.values[k.s] = makeValue(k, "init", size)
	}
	return s
}

func (s *memoryStore) get(_ context.Context, k cacheKey) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := k.s
	if s.swapValues {
		name += "0"
	}
	v, ok := s.values[name]
	return bytes.Clone(v), ok, nil
}

func (s *memoryStore) set(_ context.Context, k cacheKey, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ignoreWrites {
		s.values[k.s] = bytes.Clone(value)
	}
	return nil
}

func (s *memoryStore) hitStats() (hitCounts, bool) { return hitCounts{}, false }
func (s *memoryStore) close() error                { return nil }

func smallConfig() config {
	return config{Duration: 100 * time.Millisecond, Keys: 100, ValueSize: minValueSize,
		ReadRatio: 0.5, ZipfS: 1.1, Concurrency: 2, Seed: 1}
}

func TestWorkloadCountsWrongValues(t *testing.T) {
	cfg := smallConfig()
	keys := sideKeys("memory", cfg.Keys)
	st := newMemoryStore(keys, cfg.ValueSize)
	// Keys 1 to 9 have a neighbour "...10" to "...90", which holds a value
	// of another key, and the rest have none, so they read as missing.
	st.swapValues = true

	results, elapsed := runWorkers(context.Background(), cfg, st, keys)
	var reads, wrong, missing uint64
	for _, w := range results {
		reads += w.reads
		wrong += w.wrong
		missing += w.missing
	}
	assert.GreaterOrEqual(t, elapsed, cfg.Duration)
	assert.Positive(t, reads)
	assert.Positive(t, wrong, "reads of another key's value")
	assert.Positive(t, missing, "reads that found nothing")
}

func TestWorkloadOfCorrectStoreCountsNoWrongValue(t *testing.T) {
	cfg := smallConfig()
	keys := sideKeys("memory", cfg.Keys)
	st := newMemoryStore(keys, cfg.ValueSize)

	results, _ := runWorkers(context.Background(), cfg, st, keys)
	var reads, writes, wrong, missing uint64
	for _, w := range results {
		reads += w.reads
		writes += w.writes
		wrong += w.wrong
		missing += w.missing
	}
	assert.Positive(t, reads)
	assert.Positive(t, writes)
	assert.Zero(t, wrong)
	assert.Zero(t, missing)
}

func TestFinalCheckFindsStaleClient(t *testing.T) {
	keys := sideKeys("memory", 10)
	server := newMemoryStore(keys, minValueSize)
	client := newMemoryStore(keys, minValueSize)
	ctx := context.Background()

	n, err := finalCheck(ctx, client, server, keys)
	require.NoError(t, err)
	assert.Zero(t, n, "identical stores")

	require.NoError(t, server.set(ctx, keys[3], makeValue(keys[3], "new", minValueSize)))
	start := time.Now()
	n, err = finalCheck(ctx, client, server, keys)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "one key differs")
	assert.GreaterOrEqual(t, time.Since(start), finalCheckTimeout, "a mismatch is read again until the deadline")
}

func TestMakeValueIsValidOnlyForItsKey(t *testing.T) {
	a, b := newCacheKey("peers:x:1"), newCacheKey("peers:x:12")
	v := makeValue(a, "w3.17", 100)
	assert.Len(t, v, 100)
	assert.True(t, validValue(a, v, 100))
	assert.False(t, validValue(b, v, 100), "another key")
	assert.False(t, validValue(newCacheKey("peers:x:"), v, 100), "a prefix of the key")
	assert.False(t, validValue(a, v[:99], 100), "a shorter value")
}

func TestParseFlagsRejectsInvalidValues(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-duration", "10ms"}, "-duration: 10ms is out of range"},
		{[]string{"-keys", "1"}, "-keys: 1 is out of range"},
		{[]string{"-value-size", "10"}, "-value-size: 10 is out of range"},
		{[]string{"-read-ratio", "1.5"}, "-read-ratio: 1.5 is out of range"},
		{[]string{"-zipf", "1"}, "-zipf: skew 1 must be greater than 1"},
		{[]string{"-concurrency", "0"}, "-concurrency: 0 is out of range"},
		{[]string{"-rounds", "11"}, "-rounds: 11 is out of range"},
		{[]string{"-cache-ttl", "10ms"}, "-cache-ttl: 10ms is shorter than 1s"},
		{[]string{"-coherence-rounds", "-1"}, "-coherence-rounds: -1 is out of range"},
		{[]string{"-poll-pause", "1s"}, "-poll-pause: 1s is out of range"},
		{[]string{"-sides", "kv-remote,redigo"}, `-sides: unknown side "redigo"`},
		{[]string{"-sides", "rueidis,rueidis"}, `-sides: "rueidis" is given twice`},
		{[]string{"-sides", " , "}, "-sides: no side given"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	}
	for _, c := range cases {
		_, err := parseFlags(c.args, io.Discard)
		if assert.Error(t, err, c.args) {
			assert.Contains(t, err.Error(), c.want, c.args)
		}
	}
}

func TestRunExitsTwoOnInvalidFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 2, run([]string{"-keys", "0"}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "peers: -keys: 0 is out of range")
	assert.Empty(t, stdout.String())
}

func TestSideOrderAlternates(t *testing.T) {
	cfg, err := parseFlags([]string{"-sides", "kv-tiered, rueidis,kv-remote"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{sideTiered, sideRueidis, sideRemote}, cfg.sideOrder(1))
	assert.Equal(t, []string{sideRemote, sideRueidis, sideTiered}, cfg.sideOrder(2))
	assert.Equal(t, cfg.sideOrder(1), cfg.sideOrder(3))
}

func TestHistogramQuantiles(t *testing.T) {
	h := newHistogram()
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	other := newHistogram()
	other.record(time.Second)
	h.merge(other)

	assert.InEpsilon(t, 500*time.Microsecond, h.quantile(0.5), 0.01)
	assert.InEpsilon(t, 990*time.Microsecond, h.quantile(0.99), 0.01)
	assert.Equal(t, time.Second, h.quantile(1))
	assert.Equal(t, time.Duration(0), newHistogram().quantile(0.5))
}
