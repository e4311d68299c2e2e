package main

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFlagsDefaults(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, scenarioNames(), c.Scenarios)
	assert.Equal(t, allModes, c.Modes)
	assert.Zero(t, c.Duration, "0 means each scenario's own duration")
	assert.Equal(t, 0.9, c.ReadRatio)
	assert.Equal(t, int64(64<<20), c.L1Size)
	assert.False(t, c.FleetChild)
	assert.Equal(t, 50*time.Millisecond, c.Heartbeat)
	assert.Equal(t, 200*time.Millisecond, c.StaleBound, "the stale bound follows the tiered client's bound")

	c, err = parseFlags([]string{"-heartbeat", "1s"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 4*time.Second, c.StaleBound)
	c, err = parseFlags([]string{"-heartbeat", "1s", "-stale-bound", "10ms"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 10*time.Millisecond, c.StaleBound, "an explicit -stale-bound wins")
}

func TestParseFlagsLists(t *testing.T) {
	c, err := parseFlags([]string{"-scenario", " zipf ,", "-mode", "remote,raw", "-cluster", "127.0.0.1:7000,127.0.0.1:7001", "-duration", "2s"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"zipf"}, c.Scenarios)
	assert.Equal(t, []string{"remote", "raw"}, c.Modes)
	assert.Equal(t, []string{"127.0.0.1:7000", "127.0.0.1:7001"}, c.Cluster)
	assert.Equal(t, 2*time.Second, c.Duration)
}

func TestParseFlagsRejects(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown scenario", []string{"-scenario", "zipf,nope"}, `-scenario: unknown scenario "nope"`},
		{"empty scenario", []string{"-scenario", ","}, "-scenario: no scenario given"},
		{"unknown mode", []string{"-mode", "memcached"}, `-mode: unknown mode "memcached"`},
		{"negative duration", []string{"-duration", "-1s"}, "-duration: -1s is negative"},
		{"tiny duration", []string{"-duration", "1ms"}, "-duration: 1ms is too short"},
		{"huge concurrency", []string{"-concurrency", "100000"}, "-concurrency: 100000 is out of range"},
		{"fewer workers than procs", []string{"-concurrency", "2", "-procs", "4"}, "-concurrency: 2 is fewer than -procs 4"},
		{"too many procs", []string{"-procs", "65"}, "-procs: 65 is out of range"},
		{"negative keys", []string{"-keys", "-3"}, "-keys: -3 is out of range"},
		{"small value", []string{"-value-size", "8"}, "-value-size: 8 is out of range"},
		{"read ratio above 1", []string{"-read-ratio", "1.5"}, "-read-ratio: 1.5 is out of range"},
		{"read ratio NaN", []string{"-read-ratio", "NaN"}, "-read-ratio: NaN is out of range"},
		{"zipf skew 1", []string{"-zipf", "1"}, "-zipf: skew 1 must be greater than 1"},
		{"zero l1 size", []string{"-l1-size", "0"}, "-l1-size: 0 bytes is not positive"},
		{"negative stale bound", []string{"-stale-bound", "-1s"}, "-stale-bound: -1s is negative"},
		{"zero heartbeat", []string{"-heartbeat", "0s"}, "-heartbeat: 0s is out of range 1ms to 1m"},
		{"negative read pause", []string{"-read-pause", "-1ms"}, "-read-pause: -1ms is out of range"},
		{"zero rate limit", []string{"-rate-limit", "0"}, "-rate-limit: 0 is not positive"},
		{"short window", []string{"-rate-window", "1ms"}, "-rate-window: 1ms is shorter than 10ms"},
		{"two deployments", []string{"-addr", "127.0.0.1:6379", "-cluster", "127.0.0.1:7000"}, "give at most one"},
		{"addr without port", []string{"-addr", "127.0.0.1"}, "-addr: \"127.0.0.1\" is not host:port"},
		{"addr bad port", []string{"-addr", "127.0.0.1:70000"}, "-addr: \"127.0.0.1:70000\" has an invalid port"},
		{"cluster bad seed", []string{"-cluster", "127.0.0.1:7000,nohost"}, "-cluster: \"nohost\" is not host:port"},
		{"url bad scheme", []string{"-url", "http://127.0.0.1:6379"}, "-url:"},
		{"stray argument", []string{"zipf"}, `unexpected argument "zipf"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(tt.args, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestUsageHidesFleetChild(t *testing.T) {
	var out strings.Builder
	_, err := parseFlags([]string{"-help"}, &out)
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, out.String(), "-heartbeat duration")
	assert.Contains(t, out.String(), "-value-size int")
	assert.NotContains(t, out.String(), "fleet-child")
}
