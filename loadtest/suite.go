package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/derp-kv/kv/internal/valkeytest"
)

// runSuite runs every selected scenario in every selected mode it supports,
// one after the other, and returns one row per run. Live progress goes to
// stderr. Without a deployment in cfg, it starts a throwaway valkey-server
// for the modes that need one and stops it before returning.
func runSuite(ctx context.Context, cfg config, stderr io.Writer) ([]row, error) {
	// Fleet processes copy their stderr here while the progress line
	// writes to it.
	stderr = &lockedWriter{w: stderr}
	if !hasDeployment(cfg) && suiteNeedsValkey(cfg) {
		server, err := valkeytest.Start()
		if err != nil {
			return nil, fmt.Errorf("start a throwaway valkey-server (run `make valkey` to install it, or give -addr): %w", err)
		}
		defer server.Stop()
		cfg.Addr = server.Addr()
		fmt.Fprintf(stderr, "started a throwaway valkey-server on %s\n", cfg.Addr)
	}
	runID, err := newRunID()
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, name := range cfg.Scenarios {
		sc, _ := scenarioByName(name)
		for _, mode := range sc.modes {
			if !slices.Contains(cfg.Modes, mode) {
				continue
			}
			j := resolveJob(cfg, sc, mode, runID)
			if sc.fleet && j.Config.Procs > 1 && mode == modeLocal {
				fmt.Fprintf(stderr, "%s/%s: skipped, because local mode shares nothing between the %d processes\n", name, mode, j.Config.Procs)
				continue
			}
			r := runJob(ctx, sc, j, stderr)
			rows = append(rows, r)
			if ctx.Err() != nil {
				return rows, errInterrupted
			}
		}
	}
	return rows, nil
}

func hasDeployment(c config) bool {
	return c.Addr != "" || c.URL != "" || len(c.Cluster) > 0
}

func suiteNeedsValkey(c config) bool {
	for _, name := range c.Scenarios {
		sc, _ := scenarioByName(name)
		for _, mode := range sc.modes {
			if slices.Contains(c.Modes, mode) && needsValkey(mode) {
				return true
			}
		}
	}
	return false
}

func newRunID() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make a run id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// resolveJob fills in the scenario's defaults for every setting the command
// line left at 0.
func resolveJob(cfg config, sc *scenario, mode, runID string) job {
	c := cfg
	if c.Duration == 0 {
		c.Duration = sc.defaultDuration
	}
	if c.Concurrency == 0 {
		c.Concurrency = sc.defaultConcurrency
	}
	if c.Keys == 0 {
		c.Keys = sc.defaultKeys
	}
	if c.Procs == 0 {
		c.Procs = 1
		if sc.fleet {
			c.Procs = 2
		}
	}
	c.Concurrency = max(c.Concurrency, c.Procs)
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	return job{
		Config:   c,
		Scenario: sc.name,
		Mode:     mode,
		Prefix:   "loadtest:" + runID + ":" + sc.name + ":" + mode + ":",
		Workers:  c.Concurrency,
		Seed:     binary.LittleEndian.Uint64(seed[:]),
	}
}

// runJob runs one scenario in one mode, in this process or in a fleet, and
// returns its row. A failure is reported in the row's note.
func runJob(ctx context.Context, sc *scenario, j job, stderr io.Writer) row {
	c := j.Config
	r := row{Scenario: j.Scenario, Mode: j.Mode, Procs: c.Procs, Concurrency: c.Concurrency}
	label := j.Scenario + "/" + j.Mode
	fmt.Fprintf(stderr, "%s: %d process(es), %d workers, %v\n", label, c.Procs, c.Concurrency, c.Duration)
	progress := newProgressLine(stderr, label, c.Duration)

	var (
		m   *merged
		err error
	)
	if c.Procs == 1 {
		m, err = runInProcess(ctx, j, progress.update)
	} else {
		m, err = runFleet(ctx, j, stderr, progress.update)
	}
	if err != nil && ctx.Err() != nil {
		err = errInterrupted
	}
	if m != nil {
		r.fillLatency(m)
		if err == nil {
			sc.summarize(j, m, &r)
		}
		r.Note = joinNote(r.Note, eventNote(m))
	}
	if err != nil {
		r.Note = "failed: " + err.Error()
		fmt.Fprintf(stderr, "%s: %v\n", label, err)
	}
	if j.Mode == modeRaw {
		r.Note = joinNote(r.Note, "GLIDE without kv")
	}
	return r
}

func joinNote(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "; " + b
}

// eventPrefix marks the counters that hold background events of the mode.
const eventPrefix = "event:"

// eventNote lists the background events counted during the run, such as
// "2 invalidation subscription losses".
func eventNote(m *merged) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(m.counters)) {
		if event, ok := strings.CutPrefix(name, eventPrefix); ok {
			parts = append(parts, strconv.FormatInt(m.counters[name], 10)+" "+event)
		}
	}
	return strings.Join(parts, ", ")
}

// runInProcess runs a job with all its workers in this process.
func runInProcess(ctx context.Context, j job, progress progressFunc) (*merged, error) {
	t, err := newTarget(ctx, j)
	if err != nil {
		return nil, fmt.Errorf("open %s client: %w", j.Mode, err)
	}
	defer t.Close()
	p := &process{job: j, target: t}
	res, err := runProcess(ctx, p, func() error {
		p.start = time.Now()
		return nil
	}, progress)
	m := newMerged()
	m.add(res)
	if errors.Is(err, context.Canceled) {
		err = errInterrupted
	}
	return m, err
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
