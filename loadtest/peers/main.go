package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/derp-kv/kv/internal/valkeytest"
)

func main() {
	os.Exit(run(os.Args[1:], reportStdout(), os.Stderr))
}

// report holds the results of one run, as -json writes them.
type report struct {
	ValkeyVersion string         `json:"valkey_version"`
	GoVersion     string         `json:"go_version"`
	GOMAXPROCS    int            `json:"gomaxprocs"`
	Config        config         `json:"config"`
	Workload      []row          `json:"workload"`
	Coherence     []coherenceRow `json:"coherence"`
}

// run returns the exit code: 0 when every side was measured and returned
// only right values, 1 when one was not or the run was interrupted, and 2
// for invalid flags.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "peers:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Every step is bounded on its own. This deadline only stops a client
	// that hangs from keeping the run alive.
	ctx, cancel := context.WithTimeout(ctx, runBudget(cfg))
	defer cancel()

	rep, err := measure(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "peers:", err)
		return 1
	}
	fmt.Fprintln(stdout)
	writeTables(stdout, rep)
	if cfg.JSONPath != "" {
		if err := writeJSON(cfg.JSONPath, rep); err != nil {
			fmt.Fprintln(stderr, "peers:", err)
			return 1
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "peers: interrupted or over time:", context.Cause(ctx))
		return 1
	}
	if !rep.ok() {
		fmt.Fprintln(stderr, "peers: a side failed or returned a wrong value; see the table")
		return 1
	}
	return 0
}

// runBudget is the longest a run may take: each side's duration plus two
// minutes for preloading, connecting and closing, plus five minutes for the
// coherence check.
func runBudget(cfg config) time.Duration {
	runs := time.Duration(cfg.Rounds * len(cfg.Sides))
	return runs*(cfg.Duration+2*time.Minute) + 5*time.Minute
}

// measure starts a throwaway valkey-server, runs every round and the
// coherence check against it, and stops it.
func measure(ctx context.Context, cfg config, progress io.Writer) (*report, error) {
	srv, err := valkeytest.Start()
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	ld, err := openLoader(srv.Addr())
	if err != nil {
		return nil, err
	}
	defer ld.close()
	version, err := ld.serverVersion(ctx)
	if err != nil {
		return nil, err
	}
	rep := &report{ValkeyVersion: version, GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), Config: cfg}
	fmt.Fprintf(progress, "valkey-server %s on %s; GOMAXPROCS %d\n", version, srv.Addr(), rep.GOMAXPROCS)

	for round := 1; round <= cfg.Rounds && ctx.Err() == nil; round++ {
		for _, side := range cfg.sideOrder(round) {
			if ctx.Err() != nil {
				break
			}
			rep.Workload = append(rep.Workload, runSide(ctx, cfg, srv.Addr(), ld, side, round, progress))
		}
	}
	if cfg.CoherenceRounds == 0 {
		return rep, nil
	}
	if err := ld.flush(ctx); err != nil {
		return nil, err
	}
	for _, side := range coherenceSides {
		if !slices.Contains(cfg.Sides, side) || ctx.Err() != nil {
			continue
		}
		rep.Coherence = append(rep.Coherence, runCoherence(ctx, cfg, srv.Addr(), side, progress))
	}
	return rep, nil
}

func (r *report) ok() bool {
	for _, w := range r.Workload {
		if !w.correct() {
			return false
		}
	}
	for _, c := range r.Coherence {
		if c.Failure != "" || c.Errors > 0 {
			return false
		}
	}
	return true
}

func writeTables(w io.Writer, rep *report) {
	c := rep.Config
	fmt.Fprintf(w, "valkey %s, %s, GOMAXPROCS %d; %d keys, %d-byte values, %.0f%% reads, zipf %.2f, %d workers, %v per side, seed %d\n\n",
		rep.ValkeyVersion, rep.GoVersion, rep.GOMAXPROCS, c.Keys, c.ValueSize, c.ReadRatio*100, c.ZipfS, c.Concurrency, c.Duration, c.Seed)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tside\tops/s\tvs kv-remote\tp50 µs\tp99 µs\tmax µs\thit ratio\tjoined\terrors\twrong\tnote\t")
	for _, r := range rep.Workload {
		if r.Failure != "" {
			fmt.Fprintf(tw, "%d\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\tfailed: %s\t\n", r.Round, r.Side, r.Failure)
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%s\t%.1f\t%.1f\t%.0f\t%s\t%s\t%d\t%d\t%s\t\n",
			r.Round, r.Side, r.OpsPerSec, ratioToRemote(rep.Workload, r), r.P50US, r.P99US, r.MaxUS,
			formatRatio(r.HitRatio), formatJoined(r), r.Errors, r.WrongValues+r.MissingValues+uint64(r.FinalMismatches), rowNote(r))
	}
	tw.Flush()
	if len(rep.Coherence) == 0 {
		return
	}

	fmt.Fprintln(w, "\ncoherence: the time from the start of a write in one client to the end of the first read of the new value in another")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "side\tmeasured\tp50 µs\tp99 µs\tmax µs\twrite p50 µs\tstale after ack\tnot cached\ttimeouts\terrors\tnote\t")
	for _, r := range rep.Coherence {
		note := r.Failure
		if note == "" {
			note = r.FirstError
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t%d\t%d\t%d\t%s\t\n",
			r.Side, r.Measured, r.Rounds, r.P50US, r.P99US, r.MaxUS, r.WriteP50US, r.StaleAfterAck, r.NotCached, r.Timeouts, r.Errors, note)
	}
	tw.Flush()
}

// ratioToRemote returns r's ops/s over kv-remote's in the same round, or
// "-" when kv-remote did not run in it.
func ratioToRemote(rows []row, r row) string {
	for _, o := range rows {
		if o.Round == r.Round && o.Side == sideRemote && o.Failure == "" && o.OpsPerSec > 0 {
			return fmt.Sprintf("%.2f", r.OpsPerSec/o.OpsPerSec)
		}
	}
	return "-"
}

func formatRatio(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.3f", *p)
}

// formatJoined returns the joined ratio of the tiered client. rueidis
// counts such reads as hits, so its cell reads "in hits".
func formatJoined(r row) string {
	if r.Side == sideRueidisCache && r.HitRatio != nil {
		return "in hits"
	}
	return formatRatio(r.JoinedRatio)
}

func rowNote(r row) string {
	var parts []string
	if r.WrongValues > 0 {
		parts = append(parts, fmt.Sprintf("%d wrong values", r.WrongValues))
	}
	if r.MissingValues > 0 {
		parts = append(parts, fmt.Sprintf("%d reads found nothing", r.MissingValues))
	}
	if r.FinalMismatches > 0 {
		parts = append(parts, fmt.Sprintf("%d keys differ from the server after the run", r.FinalMismatches))
	}
	if r.FirstError != "" {
		parts = append(parts, "first error: "+r.FirstError)
	}
	return strings.Join(parts, "; ")
}

func writeJSON(path string, rep *report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write -json file: %w", err)
	}
	return nil
}
