package local

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/derp-kv/kv"
)

// Compile-time checks that Client implements the contract and the optional
// interfaces it supports.
var (
	_ kv.Client     = (*Client)(nil)
	_ kv.Swapper    = (*Client)(nil)
	_ kv.TTLCounter = (*Client)(nil)
	_ kv.Viewer     = (*Client)(nil)
)

// keyLockCount is the number of key locks, which take 2 KiB. Writes to keys
// that hash to the same lock wait for each other. With n concurrent
// writers, a write finds its lock taken by another key with a chance of
// about (n-1)/256.
const keyLockCount = 256

// Client is the in-process tier: a byte-level cache in the Go heap, bounded
// by a memory budget, on a ristretto cache. It is safe for concurrent use by
// multiple goroutines. The zero value is not usable; create one with New
// and release it with Close.
type Client struct {
	cache *ristretto.Cache[[]byte, *entry]
	// epoch is the origin of entry deadlines. Deadlines are offsets from it
	// measured with the monotonic clock, so wall clock jumps do not move
	// them.
	epoch  time.Time
	maxTTL time.Duration
	seed   maphash.Seed

	// gates keep calls out of ristretto while Close tears it down; see gate.
	gates    []gate
	gateMask uint32
	// closed is set by Close while it holds every gate.
	closed    atomic.Bool
	closeOnce sync.Once

	// keyLocks serialise the writes to each key; see lockKey.
	keyLocks [keyLockCount]sync.Mutex

	stopSweep  chan struct{}
	sweepDone  chan struct{}
	sweepEvery time.Duration

	evictions   atomic.Uint64
	rejections  atomic.Uint64
	expirations atomic.Uint64
}

// gate is one stripe of a reader-writer lock that every call holds for
// reading while it uses the ristretto cache, and that Close holds for
// writing around ristretto's Close. Ristretto's Close closes channels that
// its Get, Set and Del send on, so a call still inside ristretto at that
// moment would panic.
//
// A call takes a random stripe and Close takes all of them. With a single
// lock, every Get on every core would write the lock's cache line, and
// read-locking one RWMutex stops scaling past a few cores
// (https://github.com/golang/go/issues/17973).
//
// NOTE: BenchmarkGate found no gain on the 2-core machine it ran on, where
// one lock was as fast. The gain on many cores is expected, not measured.
type gate struct {
	mu sync.RWMutex
	// hits and misses count Get and MGet lookups. They sit on the cache
	// line that taking mu already writes.
	hits   atomic.Uint64
	misses atomic.Uint64
	_      [64 - unsafe.Sizeof(sync.RWMutex{}) - 16]byte
}

// New returns a Client configured by opts, ready for use: it has no
// connection, so Connect is optional. It starts ristretto's two goroutines
// and one expiry sweeper, which Close stops. An invalid option makes New
// return an error that names it.
func New(opts ...Option) (*Client, error) {
	cfg, err := resolve(opts)
	if err != nil {
		return nil, err
	}

	c := &Client{
		epoch:      time.Now(),
		maxTTL:     cfg.maxTTL,
		seed:       maphash.MakeSeed(),
		stopSweep:  make(chan struct{}),
		sweepDone:  make(chan struct{}),
		sweepEvery: cfg.sweepInterval,
	}
	gateCount := 1 << bits.Len(uint(4*runtime.GOMAXPROCS(0)-1))
	c.gates = make([]gate, gateCount)
	c.gateMask = uint32(gateCount - 1)

	keyToHash := c.hashKey
	if cfg.keyHash != nil {
		keyToHash = func(key []byte) (uint64, uint64) { return cfg.keyHash(key), 0 }
	}
	c.cache, err = ristretto.NewCache(&ristretto.Config[[]byte, *entry]{
		NumCounters: cfg.numCounters,
		MaxCost:     cfg.maxCost,
		BufferItems: 64,
		// Each entry's cost already includes its bookkeeping.
		IgnoreInternalCost: true,
		KeyToHash:          keyToHash,
		OnEvict:            c.onEvict,
		OnReject:           c.onReject,
	})
	if err != nil {
		return nil, fmt.Errorf("kv: local: new: %w", err)
	}
	go c.sweep()
	return c, nil
}

// Connect returns nil: the client has no connection. It fails only when
// ctx is done or the client is closed.
func (c *Client) Connect(ctx context.Context) error {
	g, err := c.enter(ctx)
	if err != nil {
		return opError("connect", err)
	}
	g.mu.RUnlock()
	return nil
}

// Close stops the sweeper and ristretto's goroutines and drops every
// entry. It waits for calls in progress to finish. It is idempotent and
// always returns nil; calls made afterwards return an error wrapping
// kv.ErrClosed.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		// The sweeper takes gates, so it must stop before Close takes them.
		close(c.stopSweep)
		<-c.sweepDone

		for i := range c.gates {
			c.gates[i].mu.Lock()
		}
		c.closed.Store(true)
		c.cache.Close()
		for i := range c.gates {
			c.gates[i].mu.Unlock()
		}
	})
	return nil
}

// Capabilities reports TTL and Scan support. Batch is false: MGet, MSet
// and DeleteMany cost the same as one call per key.
func (c *Client) Capabilities() kv.Capabilities {
	return kv.Capabilities{TTL: true, Scan: true, Batch: false}
}

// Stats is a snapshot of a Client's counters since New.
type Stats struct {
	// Hits and Misses count the keys looked up by Get and MGet.
	Hits, Misses uint64
	// Evictions counts entries removed to make room for others.
	Evictions uint64
	// Rejections counts entries the admission policy refused to store
	// because the budget was full of entries used more often, or because
	// the entry alone was larger than the budget.
	Rejections uint64
	// Expirations counts expired entries removed by the sweeper.
	Expirations uint64
	// Cost is the sum of the costs of the stored entries, in bytes, and
	// MaxCost the budget.
	Cost, MaxCost int64
}

// Stats returns the client's counters. After Close, Cost is 0.
func (c *Client) Stats() Stats {
	var s Stats
	for i := range c.gates {
		s.Hits += c.gates[i].hits.Load()
		s.Misses += c.gates[i].misses.Load()
	}
	s.Evictions = c.evictions.Load()
	s.Rejections = c.rejections.Load()
	s.Expirations = c.expirations.Load()
	s.MaxCost = c.cache.MaxCost()
	if !c.closed.Load() {
		s.Cost = s.MaxCost - c.cache.RemainingCost()
	}
	return s
}

// enter checks ctx and takes a gate for reading, so that the cache stays
// open until the caller releases it with g.mu.RUnlock. It returns ctx.Err()
// or kv.ErrClosed unwrapped; the caller adds the operation. A caller never
// holds two gates: Close takes them in order, and a call waiting for a
// second gate while holding one could deadlock with it.
func (c *Client) enter(ctx context.Context) (*gate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g := &c.gates[rand.Uint32()&c.gateMask]
	g.mu.RLock()
	if c.closed.Load() {
		g.mu.RUnlock()
		return nil, kv.ErrClosed
	}
	return g, nil
}

// lockKey locks the key lock of key and returns it.
//
// Ristretto has no compare-and-set, so a read-modify-write such as Incr,
// SetNX or CompareAndSwap needs a lock to be atomic. Every write takes the
// key's lock, so two writes to one key never interleave. A lock per key
// would need a map that grows with the keys. Striping by hash bounds the
// memory and still lets writes to different keys run in parallel.
func (c *Client) lockKey(key []byte) *sync.Mutex {
	mu := &c.keyLocks[maphash.Bytes(c.seed, key)%keyLockCount]
	mu.Lock()
	return mu
}

// hashKey is ristretto's KeyToHash. Ristretto's default hashes a []byte
// key twice, the second hash to tell apart keys whose first hashes collide.
// Every entry carries its key and lookup compares it, so one hash is
// enough: a collision makes a lookup miss instead of returning the wrong
// value, and with a conflict hash of 0 ristretto skips its own comparison.
func (c *Client) hashKey(key []byte) (uint64, uint64) {
	return maphash.Bytes(c.seed, key), 0
}

// now returns the current time in nanoseconds since c.epoch.
func (c *Client) now() int64 {
	return int64(time.Since(c.epoch))
}

// deadline returns the expireAt of an entry written at now with ttl, which
// has been checked and rounded already; ttl 0 means no expiry. WithMaxTTL
// caps it.
func (c *Client) deadline(now int64, ttl time.Duration) int64 {
	if c.maxTTL > 0 && (ttl == 0 || ttl > c.maxTTL) {
		ttl = c.maxTTL
	}
	if ttl == 0 {
		return 0
	}
	return now + int64(ttl)
}

// onEvict counts entries ristretto removed to make room. Ristretto calls it
// from its own goroutine, and for every entry when Close clears the cache.
func (c *Client) onEvict(*ristretto.Item[*entry]) {
	if !c.closed.Load() {
		c.evictions.Add(1)
	}
}

// onReject counts entries the admission policy refused.
func (c *Client) onReject(*ristretto.Item[*entry]) {
	if !c.closed.Load() {
		c.rejections.Add(1)
	}
}

func opError(op string, err error) error {
	return fmt.Errorf("kv: local: %s: %w", op, err)
}
