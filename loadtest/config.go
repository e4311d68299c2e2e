package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Mode names: each is one way of reaching the cache that a scenario can
// drive.
const (
	modeLocal  = "local"
	modeRemote = "remote"
	modeRaw    = "raw"
	modeTiered = "tiered"
)

// allModes lists the modes in the order the report shows them.
var allModes = []string{modeLocal, modeRemote, modeRaw, modeTiered}

// config is everything one invocation was asked to do. Zero values of the
// numeric workload fields mean "the scenario's default", so that the default
// suite can give each scenario its own duration and fleet size.
type config struct {
	Scenarios   []string      `json:"scenarios"`
	Modes       []string      `json:"modes"`
	Duration    time.Duration `json:"duration"`
	Concurrency int           `json:"concurrency"`
	Keys        int           `json:"keys"`
	ValueSize   int           `json:"value_size"`
	ReadRatio   float64       `json:"read_ratio"`
	ZipfS       float64       `json:"zipf"`
	L1Size      int64         `json:"l1_size"`
	Procs       int           `json:"procs"`
	StaleBound  time.Duration `json:"stale_bound"`
	Heartbeat   time.Duration `json:"heartbeat"`
	ReadPause   time.Duration `json:"read_pause"`
	ComputeTime time.Duration `json:"compute_time"`
	RateLimit   int           `json:"rate_limit"`
	RateWindow  time.Duration `json:"rate_window"`

	// Addr, URL and Cluster name an existing deployment; at most one is
	// set. Without any, modes that need Valkey get a throwaway server.
	Addr    string   `json:"addr,omitempty"`
	URL     string   `json:"url,omitempty"`
	Cluster []string `json:"cluster,omitempty"`

	JSONFile string `json:"-"`
	// FleetChild marks a process started by the runner for -procs; it reads
	// its job from stdin instead of running a suite.
	FleetChild bool `json:"-"`
}

const (
	maxConcurrency = 4096
	maxProcs       = 64
	maxValueSize   = 16 << 20
	// minValueSize leaves room for the version and write-time stamp that the
	// mixed scenario puts at the start of every value.
	minValueSize = 16
)

// parseFlags parses the command line into a validated config. Usage and
// errors go to out.
func parseFlags(args []string, out io.Writer) (config, error) {
	var (
		c                         config
		scenarios, modes, cluster string
	)
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&scenarios, "scenario", strings.Join(scenarioNames(), ","), "comma-separated scenarios to run, in order: "+strings.Join(scenarioNames(), ", "))
	fs.StringVar(&modes, "mode", strings.Join(allModes, ","), "comma-separated modes run side by side for each scenario: "+strings.Join(allModes, ", ")+" (each scenario skips the modes it does not support)")
	fs.DurationVar(&c.Duration, "duration", 0, "measured time per scenario and mode (0 = the scenario's default: 15s for zipf, 5s for the others)")
	fs.IntVar(&c.Concurrency, "concurrency", 0, "worker goroutines per scenario and mode, summed over all processes (0 = the scenario's default)")
	fs.IntVar(&c.Keys, "keys", 0, "number of distinct keys (0 = the scenario's default: 100000 for zipf, 16 for mixed, 4 for ratelimit)")
	fs.IntVar(&c.ValueSize, "value-size", 128, "value size in bytes ("+strconv.Itoa(minValueSize)+" to "+strconv.Itoa(maxValueSize)+")")
	fs.Float64Var(&c.ReadRatio, "read-ratio", 0.9, "zipf: share of operations that are reads; mixed: share of workers that read; from 0 to 1")
	fs.Float64Var(&c.ZipfS, "zipf", 1.1, "skew s of the zipf key distribution, greater than 1 (larger is more skewed)")
	fs.Int64Var(&c.L1Size, "l1-size", 64<<20, "L1 capacity in bytes for the local and tiered modes")
	fs.IntVar(&c.Procs, "procs", 0, "OS processes sharing the workload (0 = the scenario's default: 1 for zipf, 2 for mixed, stampede, ratelimit and idempotency)")
	fs.DurationVar(&c.StaleBound, "stale-bound", 0, "mixed: a read is stale when the value it returns was superseded by an acknowledged write longer ago than this (0 = the tiered client's staleness bound, "+strconv.Itoa(missedHeartbeats+1)+" x -heartbeat)")
	fs.DurationVar(&c.Heartbeat, "heartbeat", 50*time.Millisecond, "tiered: interval of the invalidation heartbeats; a tiered client reads around L1 while its own heartbeats are more than "+strconv.Itoa(missedHeartbeats)+" intervals behind")
	fs.DurationVar(&c.ReadPause, "read-pause", 0, "mixed: pause of each reader between two reads (0 = read in a tight loop)")
	fs.DurationVar(&c.ComputeTime, "compute-time", 20*time.Millisecond, "stampede and idempotency: how long each compute takes")
	fs.IntVar(&c.RateLimit, "rate-limit", 1000, "ratelimit: requests allowed per key and window")
	fs.DurationVar(&c.RateWindow, "rate-window", time.Second, "ratelimit: window length")
	fs.StringVar(&c.Addr, "addr", "", "host:port of an existing standalone Valkey to test instead of a throwaway server")
	fs.StringVar(&c.URL, "url", "", "valkey://, valkeys://, redis:// or rediss:// URL of an existing Valkey deployment")
	fs.StringVar(&cluster, "cluster", "", "comma-separated host:port seed addresses of an existing Valkey cluster")
	fs.StringVar(&c.JSONFile, "json", "", "also write the results as a JSON array to this file")
	fs.BoolVar(&c.FleetChild, "fleet-child", false, "internal: run one fleet process of a -procs run, reading its job from stdin")
	fs.Usage = func() { printUsage(fs, out) }
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q (all settings are flags; see -help)", fs.Arg(0))
	}
	c.Scenarios = splitList(scenarios)
	c.Modes = splitList(modes)
	c.Cluster = splitList(cluster)
	if c.StaleBound == 0 {
		c.StaleBound = c.Heartbeat * (missedHeartbeats + 1)
	}
	if err := c.validate(); err != nil {
		return config{}, err
	}
	return c, nil
}

// printUsage lists every flag but -fleet-child, which only loadtest itself
// passes, to the processes of a -procs run.
func printUsage(fs *flag.FlagSet, out io.Writer) {
	fmt.Fprintln(out, "Usage of loadtest (see docs/loadtest.md):")
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "fleet-child" {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(out, "  -%s %s\n    \t%s", f.Name, name, usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "false" {
			fmt.Fprintf(out, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(out)
	})
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// validate checks every field and names the flag at fault.
func (c config) validate() error {
	if len(c.Scenarios) == 0 {
		return errors.New("-scenario: no scenario given; choose from " + strings.Join(scenarioNames(), ", "))
	}
	for _, s := range c.Scenarios {
		if _, ok := scenarioByName(s); !ok {
			return fmt.Errorf("-scenario: unknown scenario %q; choose from %s", s, strings.Join(scenarioNames(), ", "))
		}
	}
	if len(c.Modes) == 0 {
		return errors.New("-mode: no mode given; choose from " + strings.Join(allModes, ", "))
	}
	for _, m := range c.Modes {
		if !slices.Contains(allModes, m) {
			return fmt.Errorf("-mode: unknown mode %q; choose from %s", m, strings.Join(allModes, ", "))
		}
	}
	if err := c.validateWorkload(); err != nil {
		return err
	}
	return c.validateDeployment()
}

func (c config) validateWorkload() error {
	switch {
	case c.Duration < 0:
		return fmt.Errorf("-duration: %v is negative", c.Duration)
	case c.Duration > 0 && c.Duration < 100*time.Millisecond:
		return fmt.Errorf("-duration: %v is too short to measure; use at least 100ms", c.Duration)
	case c.Duration > time.Hour:
		return fmt.Errorf("-duration: %v is longer than the 1h maximum", c.Duration)
	case c.Concurrency < 0 || c.Concurrency > maxConcurrency:
		return fmt.Errorf("-concurrency: %d is out of range 0 to %d", c.Concurrency, maxConcurrency)
	case c.Procs < 0 || c.Procs > maxProcs:
		return fmt.Errorf("-procs: %d is out of range 0 to %d", c.Procs, maxProcs)
	case c.Procs > 0 && c.Concurrency > 0 && c.Concurrency < c.Procs:
		return fmt.Errorf("-concurrency: %d is fewer than -procs %d; every process needs at least one worker", c.Concurrency, c.Procs)
	case c.Keys < 0 || c.Keys > 100_000_000:
		return fmt.Errorf("-keys: %d is out of range 0 to 100000000", c.Keys)
	case c.ValueSize < minValueSize || c.ValueSize > maxValueSize:
		return fmt.Errorf("-value-size: %d is out of range %d to %d bytes", c.ValueSize, minValueSize, maxValueSize)
	case !(c.ReadRatio >= 0 && c.ReadRatio <= 1):
		return fmt.Errorf("-read-ratio: %v is out of range 0 to 1", c.ReadRatio)
	case !(c.ZipfS > 1):
		return fmt.Errorf("-zipf: skew %v must be greater than 1", c.ZipfS)
	case c.L1Size <= 0:
		return fmt.Errorf("-l1-size: %d bytes is not positive", c.L1Size)
	case c.StaleBound < 0:
		return fmt.Errorf("-stale-bound: %v is negative", c.StaleBound)
	case c.Heartbeat < time.Millisecond || c.Heartbeat > time.Minute:
		return fmt.Errorf("-heartbeat: %v is out of range 1ms to 1m", c.Heartbeat)
	case c.ReadPause < 0 || c.ReadPause > time.Second:
		return fmt.Errorf("-read-pause: %v is out of range 0 to 1s", c.ReadPause)
	case c.ComputeTime < 0:
		return fmt.Errorf("-compute-time: %v is negative", c.ComputeTime)
	case c.RateLimit <= 0:
		return fmt.Errorf("-rate-limit: %d is not positive", c.RateLimit)
	case c.RateWindow < 10*time.Millisecond:
		return fmt.Errorf("-rate-window: %v is shorter than 10ms", c.RateWindow)
	}
	return nil
}

func (c config) validateDeployment() error {
	set := 0
	for _, v := range []bool{c.Addr != "", c.URL != "", len(c.Cluster) > 0} {
		if v {
			set++
		}
	}
	if set > 1 {
		return errors.New("-addr, -url and -cluster name a deployment each; give at most one")
	}
	if c.Addr != "" {
		if err := checkHostPort(c.Addr); err != nil {
			return fmt.Errorf("-addr: %w", err)
		}
	}
	for _, a := range c.Cluster {
		if err := checkHostPort(a); err != nil {
			return fmt.Errorf("-cluster: %w", err)
		}
	}
	if c.URL != "" {
		if err := checkURL(c.URL); err != nil {
			return fmt.Errorf("-url: %w", err)
		}
	}
	return nil
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q has an invalid port; use 1 to 65535", addr)
	}
	return nil
}
