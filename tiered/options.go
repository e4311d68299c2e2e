package tiered

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/derp-kv/kv/coordinator"
)

// Defaults of the options, all in one place.
const (
	// DefaultL1TTL is the longest an entry lives in L1 when no option sets
	// it: the bound on staleness after a write that no invalidation reports.
	DefaultL1TTL = time.Minute
	// DefaultChannel is the pub/sub channel of cross-process invalidation.
	DefaultChannel = "kv:tiered:invalidate"
	// DefaultHeartbeat is the interval of the heartbeats that check the
	// invalidation subscription.
	DefaultHeartbeat = time.Second
	// DefaultMissedHeartbeats is how many heartbeat intervals may pass
	// without one of the client's own heartbeats coming back before the
	// subscription is taken as lost.
	DefaultMissedHeartbeats = 3
	// DefaultPublishTimeout bounds a publish that runs after a write.
	DefaultPublishTimeout = time.Second
	// DefaultLockTTL is the lock TTL of GetOrCompute.
	DefaultLockTTL = 2 * time.Second
	// DefaultL2OnlyPrefix is the key prefix that bypasses L1 by default.
	// Package patterns keeps its state under it (its default prefixes are
	// "derp:ratelimit", "derp:idempotency", "derp:webhook" and "derp:lock:").
	DefaultL2OnlyPrefix = "derp:"
)

type options struct {
	l1TTL            time.Duration
	negativeTTL      time.Duration // 0: misses are not cached
	invalidation     bool
	channel          string
	heartbeat        time.Duration
	missedHeartbeats int
	publishTimeout   time.Duration
	lockTTL          time.Duration
	l2Only           []string // key prefixes that never enter L1
	coordinator      coordinator.Config
	logger           *slog.Logger
}

func defaultOptions() options {
	return options{
		l1TTL:            DefaultL1TTL,
		invalidation:     true,
		channel:          DefaultChannel,
		heartbeat:        DefaultHeartbeat,
		missedHeartbeats: DefaultMissedHeartbeats,
		publishTimeout:   DefaultPublishTimeout,
		lockTTL:          DefaultLockTTL,
		l2Only:           []string{DefaultL2OnlyPrefix},
		coordinator: coordinator.Config{
			Workers:    coordinator.DefaultWorkers,
			QueueSize:  coordinator.DefaultQueueSize,
			MaxBatch:   coordinator.DefaultMaxBatch,
			MaxFetches: coordinator.DefaultMaxFetches,
		},
	}
}

func (o options) validate() error {
	for _, p := range o.l2Only {
		if p == "" {
			return fmt.Errorf("kv: tiered: new: an empty L2-only prefix would keep every key out of L1; use a non-empty prefix, or a local or remote client alone")
		}
	}
	if o.l1TTL <= 0 {
		return fmt.Errorf("kv: tiered: new: L1 TTL is %v; it must be positive, because it bounds how stale L1 gets when an invalidation is lost", o.l1TTL)
	}
	if o.negativeTTL < 0 || o.negativeTTL > o.l1TTL {
		return fmt.Errorf("kv: tiered: new: negative-caching TTL is %v; it must be between 0 (off) and the L1 TTL %v", o.negativeTTL, o.l1TTL)
	}
	if o.invalidation && o.channel == "" {
		return fmt.Errorf("kv: tiered: new: invalidation channel is empty")
	}
	if o.heartbeat <= 0 || o.missedHeartbeats < 1 {
		return fmt.Errorf("kv: tiered: new: heartbeat every %v, lost after %d missed; both must be positive", o.heartbeat, o.missedHeartbeats)
	}
	if o.publishTimeout <= 0 || o.lockTTL <= 0 {
		return fmt.Errorf("kv: tiered: new: publish timeout %v and lock TTL %v must be positive", o.publishTimeout, o.lockTTL)
	}
	cc := o.coordinator
	if cc.Workers < 1 || cc.QueueSize < 1 || cc.MaxBatch < 1 || cc.MaxFetches < 1 {
		return fmt.Errorf("kv: tiered: new: workers %d, queue size %d, batch size %d and fetches per worker %d must all be at least 1",
			cc.Workers, cc.QueueSize, cc.MaxBatch, cc.MaxFetches)
	}
	return nil
}

// Option configures a [Client] built by [New].
type Option func(*options)

// WithL1TTL sets the longest an entry may live in L1, whatever its TTL in
// L2. It bounds how stale a read can be when a write is not reported to this
// process: a write made outside this library, or one whose invalidation was
// lost. Default 1 minute; lower it for data that must not be stale that long.
func WithL1TTL(d time.Duration) Option {
	return func(o *options) { o.l1TTL = d }
}

// WithNegativeCaching caches misses in L1 for ttl, so repeated reads of an
// absent key stop reaching L2. Invalidation drops a cached miss like any
// entry. ttl must not exceed the L1 TTL; 0 turns negative caching off, which
// is the default.
func WithNegativeCaching(ttl time.Duration) Option {
	return func(o *options) { o.negativeTTL = ttl }
}

// WithInvalidation turns cross-process invalidation on, on the given pub/sub
// channel: every write publishes the keys it changed, and every client drops
// the keys it receives from L1. L2 must implement kv.Publisher and
// kv.Subscriber. Every client sharing an L2 must use the same channel. It is
// on by default, on [DefaultChannel].
func WithInvalidation(channel string) Option {
	return func(o *options) {
		o.invalidation = true
		o.channel = channel
	}
}

// WithoutInvalidation turns cross-process invalidation off. Use it only when
// one process writes the keys, or when staleness up to the L1 TTL after
// another process's write is acceptable.
func WithoutInvalidation() Option {
	return func(o *options) { o.invalidation = false }
}

// WithHeartbeat sets how often the client publishes a heartbeat on the
// invalidation channel, and how many intervals old the newest of its own
// heartbeats to come back may be before it takes the subscription as lost
// or too late. While it is, the client reads around L1; when a timely
// heartbeat returns it clears L1. Default every second, with 3 intervals.
// [Client.StalenessBound] derives the bound on stale reads from these:
// interval × (missed + 1).
func WithHeartbeat(interval time.Duration, missed int) Option {
	return func(o *options) {
		o.heartbeat = interval
		o.missedHeartbeats = missed
	}
}

// WithWorkers sets the coordinator's worker count and the bound of each
// worker's queue. Default 8 workers with 256 queued misses each. A miss that
// finds its worker's queue full waits under its caller's context.
func WithWorkers(workers, queueSize int) Option {
	return func(o *options) {
		o.coordinator.Workers = workers
		o.coordinator.QueueSize = queueSize
	}
}

// WithBatching sets the most keys one L2 read carries and how many reads each
// worker keeps in flight. Misses that arrive while a worker's reads are busy
// go out together in its next read. Default 128 keys, 1 read per worker;
// maxBatch 1 turns batching off, and then fetchesPerWorker sets how many
// misses each worker reads at once.
func WithBatching(maxBatch, fetchesPerWorker int) Option {
	return func(o *options) {
		o.coordinator.MaxBatch = maxBatch
		o.coordinator.MaxFetches = fetchesPerWorker
	}
}

// WithLockTTL sets the TTL of the fleet-wide lock that GetOrCompute takes
// while one process computes a value. Set it above the usual compute time.
// Waiters in other processes wait up to 1.5 times it, then compute
// themselves. Default 2 s.
func WithLockTTL(d time.Duration) Option {
	return func(o *options) { o.lockTTL = d }
}

// WithLogger sets where background failures go: a lost or recovered
// invalidation subscription and failed publishes. Default: none; they are
// counted in Stats either way.
// WithL2OnlyPrefixes sets the key prefixes whose keys never enter L1. Reads
// of such keys go to L2 every time, and writes to them publish no
// invalidation, because no client has them in L1. That suits keys that
// change on almost every access, such as the counters and locks of package
// patterns. Every tiered client sharing an L2 must use the same prefixes:
// a client that caches a key another client writes without publishing
// serves it stale for up to the L1 TTL. Default: DefaultL2OnlyPrefix
// ("derp:"). Call it with no prefixes to cache every key.
func WithL2OnlyPrefixes(prefixes ...string) Option {
	return func(o *options) { o.l2Only = append([]string(nil), prefixes...) }
}

func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}
