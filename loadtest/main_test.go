package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/derp-kv/kv/internal/valkeytest"
)

// server is the Valkey that the end-to-end tests pass with -addr.
var server *valkeytest.Server

func TestMain(m *testing.M) {
	// A -procs run re-executes the test binary as a fleet process.
	if len(os.Args) > 1 && os.Args[1] == "-fleet-child" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	var err error
	server, err = valkeytest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	server.Stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// runJSON runs the program with args plus -json and returns its exit code,
// its rows and its stderr.
func runJSON(t *testing.T, args ...string) (int, []row, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.json")
	var stdout, stderr bytes.Buffer
	code := run(append(args, "-json", path), bytes.NewReader(nil), &stdout, &stderr)
	data, err := os.ReadFile(path)
	require.NoError(t, err, "stderr:\n%s", stderr.String())
	var rows []row
	require.NoError(t, json.Unmarshal(data, &rows))
	return code, rows, stderr.String()
}

func TestRunZipfAgainstValkey(t *testing.T) {
	code, rows, stderr := runJSON(t, "-scenario", "zipf", "-mode", "remote,raw", "-duration", "500ms",
		"-keys", "1000", "-concurrency", "4", "-addr", server.Addr())
	require.Equal(t, 0, code, stderr)
	require.Len(t, rows, 2)
	for i, mode := range []string{"remote", "raw"} {
		r := rows[i]
		assert.Equal(t, "zipf", r.Scenario)
		assert.Equal(t, mode, r.Mode)
		assert.Positive(t, r.Ops, mode)
		assert.Zero(t, r.Errors, "%s: %s", mode, r.FirstError)
		assert.Positive(t, r.P50US, mode)
		assert.GreaterOrEqual(t, r.P99US, r.P50US, mode)
		assert.GreaterOrEqual(t, r.P999US, r.P99US, mode)
		assert.Nil(t, r.L1HitRatio, "%s has no L1", mode)
	}
	assert.Contains(t, stderr, "zipf/remote: 1 process(es), 4 workers, 500ms")
}

func TestRunFleetMergesProcesses(t *testing.T) {
	code, rows, stderr := runJSON(t, "-scenario", "zipf", "-mode", "remote", "-duration", "500ms",
		"-keys", "1000", "-concurrency", "4", "-procs", "2", "-addr", server.Addr())
	require.Equal(t, 0, code, stderr)
	require.Len(t, rows, 1)
	assert.Equal(t, 2, rows[0].Procs)
	assert.Positive(t, rows[0].Ops)
	assert.Zero(t, rows[0].Errors, rows[0].FirstError)
	assert.InDelta(t, 0.5, rows[0].DurationS, 0.25)
}

func TestRunRejectsBadFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"-mode", "nope"}, bytes.NewReader(nil), &stdout, &stderr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), `loadtest: -mode: unknown mode "nope"`)
	assert.Empty(t, stdout.String())
}

func TestRunZipfLocal(t *testing.T) {
	code, rows, stderr := runJSON(t, "-scenario", "zipf", "-mode", "local", "-duration", "500ms",
		"-keys", "1000", "-concurrency", "2")
	require.Equal(t, 0, code, stderr)
	require.Len(t, rows, 1)
	r := rows[0]
	assert.Equal(t, "local", r.Mode)
	assert.Positive(t, r.Ops)
	assert.Zero(t, r.Errors, r.FirstError)
	require.NotNil(t, r.L1HitRatio)
	assert.InDelta(t, 1.0, *r.L1HitRatio, 0.01, "1000 small keys fit in the default L1")
	assert.NotContains(t, stderr, "throwaway", "local mode needs no Valkey")
}

func TestRunMixedTieredFleet(t *testing.T) {
	code, rows, stderr := runJSON(t, "-scenario", "mixed", "-mode", "tiered,remote", "-duration", "700ms",
		"-concurrency", "4", "-url", "valkey://"+server.Addr())
	require.Equal(t, 0, code, stderr)
	require.Len(t, rows, 2)
	for _, r := range rows {
		assert.Equal(t, 2, r.Procs, r.Mode)
		assert.Zero(t, r.Errors, "%s: %s", r.Mode, r.FirstError)
		require.NotNil(t, r.Writes, r.Mode)
		assert.Positive(t, *r.Writes, r.Mode)
		require.NotNil(t, r.StaleReads, r.Mode)
		require.NotNil(t, r.InvalidationP99US, "%s: readers saw other processes' writes", r.Mode)
		assert.GreaterOrEqual(t, *r.InvalidationP99US, *r.InvalidationP50US, r.Mode)
	}
	assert.Zero(t, *rows[0].StaleReads, "remote reads Valkey every time, so it is never stale")
	require.NotNil(t, rows[1].L1HitRatio, "tiered reports its L1 hit ratio")
}

func TestRunStampedeComputesOnce(t *testing.T) {
	code, rows, stderr := runJSON(t, "-scenario", "stampede", "-mode", "remote,tiered", "-duration", "500ms",
		"-concurrency", "8", "-compute-time", "5ms", "-addr", server.Addr())
	require.Equal(t, 0, code, stderr)
	require.Len(t, rows, 2)
	naive, tiered := rows[0], rows[1]
	require.NotNil(t, naive.ComputesPerKey)
	require.NotNil(t, tiered.ComputesPerKey)
	assert.Greater(t, *naive.ComputesPerKey, 1.0, "naive cache-aside computes once per caller")
	assert.Equal(t, 1.0, *tiered.ComputesPerKey, "GetOrCompute computes once per key for the fleet")
	assert.Equal(t, int64(1), *tiered.MaxComputesPerKey)
	assert.Zero(t, tiered.Errors, tiered.FirstError)
}

func TestRunRatelimitHoldsLimit(t *testing.T) {
	code, rows, stderr := runJSON(t, "-scenario", "ratelimit", "-mode", "remote,raw", "-duration", "600ms",
		"-concurrency", "8", "-rate-limit", "50", "-rate-window", "200ms", "-addr", server.Addr())
	require.Equal(t, 0, code, stderr)
	require.Len(t, rows, 2)
	limited, raw := rows[0], rows[1]
	require.NotNil(t, limited.Allowed)
	assert.Equal(t, int64(50), *limited.Limit)
	assert.LessOrEqual(t, *limited.Allowed, int64(50), "no window lets more than the limit through")
	assert.Zero(t, *limited.OverLimitWindows)
	assert.Positive(t, *limited.Windows)
	assert.Nil(t, raw.Allowed, "raw mode sends plain INCRs without a limiter")
	assert.Positive(t, raw.Ops)
}

func TestRunIdempotencyRunsOnce(t *testing.T) {
	code, rows, stderr := runJSON(t, "-scenario", "idempotency", "-mode", "remote", "-duration", "500ms",
		"-concurrency", "8", "-compute-time", "5ms", "-addr", server.Addr())
	require.Equal(t, 0, code, stderr)
	require.Len(t, rows, 1)
	r := rows[0]
	require.NotNil(t, r.ComputesPerKey)
	assert.Equal(t, 1.0, *r.ComputesPerKey, "one handler run per idempotency key across the fleet")
	assert.Equal(t, int64(1), *r.MaxComputesPerKey)
	require.NotNil(t, r.Replays)
	assert.Positive(t, *r.Replays, "duplicates get the stored result")
	assert.Zero(t, r.Errors, r.FirstError)
}
