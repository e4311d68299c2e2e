package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the report: one scenario run in one mode. Fields that
// apply only to some scenarios or modes are pointers, left out of the JSON
// where they do not apply.
type row struct {
	Scenario    string  `json:"scenario"`
	Mode        string  `json:"mode"`
	Procs       int     `json:"procs"`
	Concurrency int     `json:"concurrency"`
	DurationS   float64 `json:"duration_s"`
	Ops         uint64  `json:"ops"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	P50US       float64 `json:"p50_us"`
	P99US       float64 `json:"p99_us"`
	P999US      float64 `json:"p999_us"`
	MaxUS       float64 `json:"max_us"`
	Errors      uint64  `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`

	// L1HitRatio is the share of key lookups served by the in-process tier.
	L1HitRatio *float64 `json:"l1_hit_ratio,omitempty"`

	// InvalidationP50US and InvalidationP99US (mixed) are the delay from the
	// start of a write to the first read in another process that returns it.
	InvalidationP50US *float64 `json:"invalidation_p50_us,omitempty"`
	InvalidationP99US *float64 `json:"invalidation_p99_us,omitempty"`
	InvalidationMaxUS *float64 `json:"invalidation_max_us,omitempty"`
	// PollIntervalUS (mixed) is the mean time between two reads of the same
	// key in one process: the resolution of the invalidation delay.
	PollIntervalUS *float64 `json:"poll_interval_us,omitempty"`
	// StaleReads (mixed) counts reads that returned a value superseded by an
	// acknowledged write more than StaleBoundUS earlier.
	StaleReads   *int64   `json:"stale_reads,omitempty"`
	StaleBoundUS *float64 `json:"stale_bound_us,omitempty"`
	// Writes (mixed) counts acknowledged writes.
	Writes *int64 `json:"writes,omitempty"`

	// ComputesPerKey (stampede, idempotency) is the mean number of times a
	// key's compute ran; the target is exactly 1. MaxComputesPerKey is the
	// worst key.
	ComputesPerKey    *float64 `json:"computes_per_key,omitempty"`
	MaxComputesPerKey *int64   `json:"max_computes_per_key,omitempty"`
	// ComputeP50US and WaiterP50US/P99US (stampede) split the operation
	// latency into the calls that ran the compute and those that waited.
	ComputeP50US *float64 `json:"compute_p50_us,omitempty"`
	WaiterP50US  *float64 `json:"waiter_p50_us,omitempty"`
	WaiterP99US  *float64 `json:"waiter_p99_us,omitempty"`
	// Replays (idempotency) counts calls that returned a stored result.
	Replays *int64 `json:"replays,omitempty"`

	// Allowed (ratelimit) is the most requests allowed for one key in one
	// window, over all processes; Limit is the configured limit. Windows
	// counts the key windows observed and OverLimitWindows those whose
	// allowed count exceeded Limit.
	Allowed          *int64 `json:"allowed,omitempty"`
	Limit            *int64 `json:"limit,omitempty"`
	Windows          *int64 `json:"windows,omitempty"`
	OverLimitWindows *int64 `json:"over_limit_windows,omitempty"`

	// Note explains a skipped or failed run, or what the mode measured.
	Note string `json:"note,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func micros(d time.Duration) float64 {
	return float64(d) / float64(time.Microsecond)
}

// fillLatency sets the fields every row has from the merged result.
func (r *row) fillLatency(m *merged) {
	r.Ops = m.ops
	r.Errors = m.errors
	r.FirstError = m.firstError
	r.DurationS = float64(m.elapsedNS) / float64(time.Second)
	if m.elapsedNS > 0 {
		r.OpsPerSec = float64(m.ops) / (float64(m.elapsedNS) / float64(time.Second))
	}
	r.P50US = micros(m.latency.Quantile(0.5))
	r.P99US = micros(m.latency.Quantile(0.99))
	r.P999US = micros(m.latency.Quantile(0.999))
	r.MaxUS = micros(m.latency.Max())
}

// writeTable prints rows as an aligned table. Scenario-specific fields go to
// the details column so that the common columns stay narrow.
func writeTable(w io.Writer, rows []row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tmode\tprocs\tconc\tops/s\tp50 µs\tp99 µs\tp99.9 µs\terrors\tL1 hit\t details")
	for _, r := range rows {
		hit := "-"
		if r.L1HitRatio != nil {
			hit = strconv.FormatFloat(*r.L1HitRatio*100, 'f', 1, 64) + "%"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t %s\n",
			r.Scenario, r.Mode, r.Procs, r.Concurrency, formatRate(r.OpsPerSec),
			formatMicros(r.P50US), formatMicros(r.P99US), formatMicros(r.P999US),
			r.Errors, hit, r.details())
	}
	return tw.Flush()
}

// details renders the scenario fields that apply to r.
func (r row) details() string {
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	if r.InvalidationP99US != nil {
		add("invalidation p50/p99/max %s/%s/%s µs", formatMicros(*r.InvalidationP50US), formatMicros(*r.InvalidationP99US), formatMicros(*r.InvalidationMaxUS))
	}
	if r.PollIntervalUS != nil {
		add("poll every %s µs", formatMicros(*r.PollIntervalUS))
	}
	if r.StaleReads != nil {
		add("stale reads %d (bound %s)", *r.StaleReads, time.Duration(*r.StaleBoundUS*float64(time.Microsecond)))
	}
	if r.Writes != nil {
		add("writes %d", *r.Writes)
	}
	if r.ComputesPerKey != nil {
		add("computes/key %.2f (max %d)", *r.ComputesPerKey, *r.MaxComputesPerKey)
	}
	if r.ComputeP50US != nil {
		add("compute p50 %s µs", formatMicros(*r.ComputeP50US))
	}
	if r.WaiterP50US != nil {
		add("waiter p50/p99 %s/%s µs", formatMicros(*r.WaiterP50US), formatMicros(*r.WaiterP99US))
	}
	if r.Replays != nil {
		add("replays %d", *r.Replays)
	}
	if r.Allowed != nil {
		add("allowed %d / limit %d per window (%d windows, %d over)", *r.Allowed, *r.Limit, *r.Windows, *r.OverLimitWindows)
	}
	if r.Note != "" {
		add("%s", r.Note)
	}
	if r.FirstError != "" {
		add("first error: %s", r.FirstError)
	}
	return strings.Join(parts, "; ")
}

func formatRate(v float64) string {
	switch {
	case v >= 10_000:
		return strconv.FormatFloat(v/1000, 'f', 0, 64) + "k"
	case v >= 1000:
		return strconv.FormatFloat(v/1000, 'f', 1, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

func formatMicros(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// writeJSONFile writes rows as an indented JSON array.
func writeJSONFile(path string, rows []row) error {
	if rows == nil {
		rows = []row{}
	}
	data, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write -json file: %w", err)
	}
	return nil
}

// failed reports whether the run behind r could not complete.
func (r row) failed() bool {
	return strings.HasPrefix(r.Note, "failed:")
}
