package local

import (
	"fmt"
	"time"

	"github.com/derp-kv/kv/internal/ttl"
)

// Defaults of the options. New starts from these values and then applies
// the options in order.
const (
	// DefaultMaxCost is the memory budget when WithMaxCost is not given.
	DefaultMaxCost int64 = 64 << 20

	// DefaultSweepInterval is how often expired entries are removed when
	// WithSweepInterval is not given.
	DefaultSweepInterval = time.Second

	// countersPerKiB sizes the admission policy's frequency sketch when
	// WithNumCounters is not given: ten counters per expected entry, for
	// entries of about 1 KiB.
	countersPerKiB = 10

	// minMaxCost is the smallest accepted budget. Below it a single small
	// entry and its bookkeeping would take a large share of the budget.
	minMaxCost int64 = 4 << 10

	// minNumCounters keeps the frequency sketch useful for tiny budgets.
	minNumCounters int64 = 1 << 10
)

// Option configures a Client. Pass options to New.
type Option func(*config) error

// config is the resolved configuration of a Client.
type config struct {
	maxCost       int64
	numCounters   int64 // 0 until New derives it from maxCost
	maxTTL        time.Duration
	sweepInterval time.Duration
	// keyHash replaces the key hash in tests that need keys to collide.
	keyHash func(key []byte) uint64
}

// defaultConfig returns the configuration before any option is applied.
func defaultConfig() config {
	return config{
		maxCost:       DefaultMaxCost,
		sweepInterval: DefaultSweepInterval,
	}
}

// WithMaxCost sets the memory budget in bytes: the sum of the costs of all
// stored entries. An entry costs its key and value bytes rounded up to the
// Go allocator's size class, plus 256 bytes for its bookkeeping, so 64 MiB
// holds about 48,000 entries with 1 KiB values. The default is 64 MiB
// (DefaultMaxCost) and the minimum 4 KiB. An entry whose cost is larger than
// the budget is never stored.
//
// In measurements the stored entries took up to 10% more heap than the
// budget. The client adds about 300 KiB of fixed buffers and the frequency
// sketch (see WithNumCounters).
func WithMaxCost(bytes int64) Option {
	return func(c *config) error {
		if bytes < minMaxCost {
			return fmt.Errorf("WithMaxCost(%d): the budget must be at least %d bytes", bytes, minMaxCost)
		}
		c.maxCost = bytes
		return nil
	}
}

// WithNumCounters sets the number of frequency counters of the admission
// policy (ristretto's NumCounters). Ristretto advises about ten counters
// per entry the cache holds when full. Ristretto rounds the number up to a
// power of two, and each counter then costs about 3 bytes. The default is
// 10 per KiB of budget (ten per entry of about 1 KiB), at least 1024:
// 655,360 counters, 3 MiB, for the 64 MiB default budget. Set it higher
// when entries are much smaller: 64 MiB holds about 175,000 entries with
// 100-byte values, which calls for 1.75 million counters.
func WithNumCounters(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("WithNumCounters(%d): the number of counters must be positive", n)
		}
		c.numCounters = n
		return nil
	}
}

// WithMaxTTL caps the time any entry lives, including entries written with
// ttl 0 (no expiry), which then expire after d. A service uses it to bound
// how stale an in-process copy of shared data can get. The default, 0, sets
// no cap. A d under one millisecond rounds up to one millisecond.
func WithMaxTTL(d time.Duration) Option {
	return func(c *config) error {
		rounded, err := ttl.ForWrite(d)
		if err != nil {
			return fmt.Errorf("WithMaxTTL(%v): the cap must not be negative (use 0 for no cap)", d)
		}
		c.maxTTL = rounded
		return nil
	}
}

// WithSweepInterval sets how often a background goroutine removes expired
// entries so that their memory returns to the budget. Reads never return
// an expired entry whatever the interval; it bounds only how long an
// expired entry keeps its share of the budget. Each sweep visits every
// entry, which took 140 to 225 ns per entry (9 to 15 ms for 65,536
// entries) on a 2-core test machine. The default is one second
// (DefaultSweepInterval) and the minimum one millisecond.
func WithSweepInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return fmt.Errorf("WithSweepInterval(%v): the interval must be at least 1ms", d)
		}
		c.sweepInterval = d
		return nil
	}
}

// resolve applies opts to the defaults and derives the values that depend
// on others.
func resolve(opts []Option) (config, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			return config{}, fmt.Errorf("kv: local: new: option is nil")
		}
		if err := opt(&cfg); err != nil {
			return config{}, fmt.Errorf("kv: local: new: %w", err)
		}
	}
	if cfg.numCounters == 0 {
		cfg.numCounters = max(cfg.maxCost/1024*countersPerKiB, minNumCounters)
	}
	return cfg, nil
}
