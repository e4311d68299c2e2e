package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/derp-kv/kv/tiered"
)

// minValueSize leaves room in every value for its key and tag (makeValue).
const minValueSize = 64

// config holds the flags of one run. Every side of every round runs with
// the same values.
type config struct {
	Duration        time.Duration `json:"duration_ns"`
	Keys            int           `json:"keys"`
	ValueSize       int           `json:"value_size"`
	ReadRatio       float64       `json:"read_ratio"`
	ZipfS           float64       `json:"zipf"`
	Concurrency     int           `json:"concurrency"`
	Seed            uint64        `json:"seed"`
	Rounds          int           `json:"rounds"`
	Sides           []string      `json:"sides"`
	CacheTTL        time.Duration `json:"cache_ttl_ns"`
	CoherenceRounds int           `json:"coherence_rounds"`
	PollPause       time.Duration `json:"poll_pause_ns"`
	JSONPath        string        `json:"-"`
}

func parseFlags(args []string, output io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured time per side and round, 100ms to 10m")
	fs.IntVar(&c.Keys, "keys", 100_000, "distinct keys, preloaded before each side runs; 2 to 1000000")
	fs.IntVar(&c.ValueSize, "value-size", 100, fmt.Sprintf("value size in bytes, %d to 1048576", minValueSize))
	fs.Float64Var(&c.ReadRatio, "read-ratio", 0.9, "share of operations that are reads, 0 to 1")
	fs.Float64Var(&c.ZipfS, "zipf", 1.1, "skew s of the Zipf key distribution, greater than 1 (larger is more skewed)")
	fs.IntVar(&c.Concurrency, "concurrency", 32, "worker goroutines per side, 1 to 1024")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the workers' random streams, the same for every side")
	fs.IntVar(&c.Rounds, "rounds", 1, "times each side runs, 1 to 10; odd rounds run the sides in the order of -sides, even rounds in reverse")
	sides := fs.String("sides", strings.Join(allSides, ","), "comma-separated sides to run, in the order given; from "+strings.Join(allSides, ", "))
	fs.DurationVar(&c.CacheTTL, "cache-ttl", tiered.DefaultL1TTL, "longest time rueidis-cache keeps a value in its client-side cache (the TTL argument of DoCache); the default is the L1 TTL cap of the tiered client")
	fs.IntVar(&c.CoherenceRounds, "coherence-rounds", 200, "rounds of the coherence check per cached side, 0 to 10000; 0 skips it")
	fs.DurationVar(&c.PollPause, "poll-pause", 0, "coherence: pause of the reader between two polls, 0 to 10ms; 0 polls in a tight loop")
	fs.StringVar(&c.JSONPath, "json", "", "also write the results to this file as JSON")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for s := range strings.SplitSeq(*sides, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.Sides = append(c.Sides, s)
		}
	}
	return c, c.validate()
}

func (c config) validate() error {
	switch {
	case c.Duration < 100*time.Millisecond || c.Duration > 10*time.Minute:
		return fmt.Errorf("-duration: %v is out of range 100ms to 10m", c.Duration)
	case c.Keys < 2 || c.Keys > 1_000_000:
		return fmt.Errorf("-keys: %d is out of range 2 to 1000000", c.Keys)
	case c.ValueSize < minValueSize || c.ValueSize > 1<<20:
		return fmt.Errorf("-value-size: %d is out of range %d to 1048576", c.ValueSize, minValueSize)
	case c.ReadRatio < 0 || c.ReadRatio > 1:
		return fmt.Errorf("-read-ratio: %v is out of range 0 to 1", c.ReadRatio)
	case !(c.ZipfS > 1):
		return fmt.Errorf("-zipf: skew %v must be greater than 1", c.ZipfS)
	case c.Concurrency < 1 || c.Concurrency > 1024:
		return fmt.Errorf("-concurrency: %d is out of range 1 to 1024", c.Concurrency)
	case c.Rounds < 1 || c.Rounds > 10:
		return fmt.Errorf("-rounds: %d is out of range 1 to 10", c.Rounds)
	case c.CacheTTL < time.Second:
		return fmt.Errorf("-cache-ttl: %v is shorter than 1s", c.CacheTTL)
	case c.CoherenceRounds < 0 || c.CoherenceRounds > 10_000:
		return fmt.Errorf("-coherence-rounds: %d is out of range 0 to 10000", c.CoherenceRounds)
	case c.PollPause < 0 || c.PollPause > 10*time.Millisecond:
		return fmt.Errorf("-poll-pause: %v is out of range 0 to 10ms", c.PollPause)
	case len(c.Sides) == 0:
		return errors.New("-sides: no side given; choose from " + strings.Join(allSides, ", "))
	}
	for i, s := range c.Sides {
		if !slices.Contains(allSides, s) {
			return fmt.Errorf("-sides: unknown side %q; choose from %s", s, strings.Join(allSides, ", "))
		}
		if slices.Contains(c.Sides[:i], s) {
			return fmt.Errorf("-sides: %q is given twice", s)
		}
	}
	return nil
}

// sideOrder returns the sides in the order of round, counted from 1: as
// given in odd rounds and reversed in even ones, so that no side always runs
// first on a fresh server or last on a warm machine.
func (c config) sideOrder(round int) []string {
	order := slices.Clone(c.Sides)
	if round%2 == 0 {
		slices.Reverse(order)
	}
	return order
}
