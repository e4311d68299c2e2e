package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/derp-kv/kv"
)

// Defaults for the [Config] fields left zero.
const (
	DefaultWorkers      = 8
	DefaultQueueSize    = 256
	DefaultMaxBatch     = 128
	DefaultMaxFetches   = 1
	DefaultFetchTimeout = 5 * time.Second
)

// controlQueue is the capacity of a worker's queue of invalidations and
// other control messages. Those are handled without ever waiting for L2, so
// a small queue only smooths bursts.
const controlQueue = 64

// minExternalPerWorker sets the bound on LoadMany reads in flight, Workers ×
// max(MaxFetches, minExternalPerWorker). Those reads are not batched with
// others, so they get more room than a worker's own reads.
const minExternalPerWorker = 8

// Entry is the state of one key as read from L2.
type Entry struct {
	// Value is the stored value, or nil when Found is false.
	Value []byte
	// Found reports whether L2 had the key.
	Found bool
	// TTL is the time the key had left to live in L2 when it was read, or
	// kv.NoExpiry for a key without expiry.
	TTL time.Duration
	// ReadAt is when the read of L2 that returned the entry was sent, set by
	// the coordinator. The key had TTL left at some moment after ReadAt, so
	// TTL - time.Since(ReadAt) never overstates what it has left now.
	ReadAt time.Time
}

// FetchFunc reads keys from L2, preferably in one round trip, and returns one
// Entry per key in the order given.
type FetchFunc func(ctx context.Context, keys [][]byte) ([]Entry, error)

// Config configures a [Coordinator]. Fetch, Fill and Drop are required; the
// other fields take their defaults when zero.
type Config struct {
	// Fetch reads keys from L2. It runs on a goroutine of the coordinator
	// under a context that Close cancels, never under a caller's context, so
	// one caller giving up does not fail the read for the others.
	Fetch FetchFunc
	// Fill stores what Fetch returned for key in L1. The key's worker calls
	// it, and only when no invalidation of the key was applied after the read
	// began. It must not block: it runs on the worker. Fill and Drop must not
	// keep key.
	Fill func(key []byte, e Entry)
	// Drop removes key from L1. The key's worker calls it for each key given
	// to [Coordinator.Invalidate]. It must not block.
	Drop func(key []byte)

	// Workers is the number of worker goroutines; keys are spread over them
	// by hash. Default 8. More workers allow more L2 reads in flight at once
	// (Workers × MaxFetches); fewer make larger batches.
	Workers int
	// QueueSize bounds each worker's queue of misses, and separately the
	// misses it holds while its reads are busy. A caller whose miss finds
	// the queue full waits under its own context. Default 256.
	QueueSize int
	// MaxBatch is the most keys one L2 read carries. 1 turns batching off:
	// each miss is then read on its own. Default 128.
	MaxBatch int
	// MaxFetches is the number of L2 reads each worker keeps in flight.
	// Misses that arrive while all of them are busy wait and go out together
	// in the next batch. Default 1: with 64 goroutines missing on distinct
	// keys (BenchmarkConcurrentMisses in package tiered), one read per
	// worker made batches of 4.7 keys against 2.9 with two, at the same or
	// up to 15% better throughput.
	MaxFetches int
	// FetchTimeout bounds each L2 read. Default 5 s.
	FetchTimeout time.Duration
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Fetch == nil || cfg.Fill == nil || cfg.Drop == nil {
		return cfg, errors.New("kv: coordinator: new: Fetch, Fill and Drop are required")
	}
	fields := []struct {
		name  string
		value *int
		def   int
	}{
		{"Workers", &cfg.Workers, DefaultWorkers},
		{"QueueSize", &cfg.QueueSize, DefaultQueueSize},
		{"MaxBatch", &cfg.MaxBatch, DefaultMaxBatch},
		{"MaxFetches", &cfg.MaxFetches, DefaultMaxFetches},
	}
	for _, f := range fields {
		if *f.value < 0 {
			return cfg, fmt.Errorf("kv: coordinator: new: %s is %d; it must be positive, or 0 for the default", f.name, *f.value)
		}
		if *f.value == 0 {
			*f.value = f.def
		}
	}
	if cfg.FetchTimeout < 0 {
		return cfg, fmt.Errorf("kv: coordinator: new: FetchTimeout is %v; it must be positive, or 0 for the default", cfg.FetchTimeout)
	}
	if cfg.FetchTimeout == 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	return cfg, nil
}

// Stats counts what a [Coordinator] has done since it was created.
type Stats struct {
	// Loads is the number of keys requested through Load and LoadMany.
	Loads uint64
	// Shared is the number of those requests that joined a read already
	// started for the same key rather than starting one.
	Shared uint64
	// Fetches is the number of calls to Config.Fetch, and Fetched the number
	// of keys they carried.
	Fetches, Fetched uint64
	// FetchErrors is the number of calls to Config.Fetch that failed.
	FetchErrors uint64
	// Fills is the number of Config.Fill calls.
	Fills uint64
	// StaleFills is the number of reads whose result was not filled because
	// an invalidation of the key was applied while the read was in flight.
	StaleFills uint64
	// Invalidations is the number of keys invalidated.
	Invalidations uint64
}

type counters struct {
	loads, shared, fetches, fetched, fetchErrors atomic.Uint64
	fills, staleFills, invalidations             atomic.Uint64
}

// Coordinator owns the miss path of a two-tier cache. It is safe for
// concurrent use. Create it with [New]; the zero value is not usable.
type Coordinator struct {
	cfg     Config
	seed    maphash.Seed
	workers []*worker

	// life is the context of every Fetch; Close cancels it.
	life   context.Context
	cancel context.CancelFunc
	// stop is closed by Close; every blocked caller selects on it.
	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // workers and fetch goroutines

	// closeMu makes wg.Add and Close's wg.Wait never race: a goroutine
	// started outside a worker is added only while closed is false.
	closeMu sync.RWMutex
	closed  bool // guarded by closeMu

	// external bounds the fetches LoadMany runs outside the workers.
	external chan struct{}
	stats    counters
}

// New starts a coordinator's workers. Call Close to stop them.
func New(cfg Config) (*Coordinator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	life, cancel := context.WithCancel(context.Background())
	c := &Coordinator{
		cfg:      cfg,
		seed:     maphash.MakeSeed(),
		life:     life,
		cancel:   cancel,
		stop:     make(chan struct{}),
		external: make(chan struct{}, cfg.Workers*max(cfg.MaxFetches, minExternalPerWorker)),
	}
	c.workers = make([]*worker, cfg.Workers)
	for i := range c.workers {
		w := &worker{
			c:       c,
			loads:   make(chan message, cfg.QueueSize),
			control: make(chan message, controlQueue),
			results: make(chan result, cfg.MaxFetches),
			exited:  make(chan struct{}),
			flights: make(map[string]*flight),
		}
		c.workers[i] = w
		c.wg.Add(1)
		go w.run()
	}
	return c, nil
}

// Close stops the workers and cancels the reads in flight. Calls waiting in
// Load or LoadMany return kv.ErrClosed, and so does every later call. Close
// waits for every goroutine of the coordinator to end; it is idempotent.
func (c *Coordinator) Close() {
	c.closeOnce.Do(func() {
		c.closeMu.Lock()
		c.closed = true
		c.closeMu.Unlock()
		close(c.stop)
		c.cancel()
	})
	c.wg.Wait()
}

// Stats returns the counters. They are read one by one, so they may be
// mutually inconsistent while calls are in flight.
func (c *Coordinator) Stats() Stats {
	s := &c.stats
	return Stats{
		Loads: s.loads.Load(), Shared: s.shared.Load(),
		Fetches: s.fetches.Load(), Fetched: s.fetched.Load(), FetchErrors: s.fetchErrors.Load(),
		Fills: s.fills.Load(), StaleFills: s.staleFills.Load(), Invalidations: s.invalidations.Load(),
	}
}

func (c *Coordinator) workerOf(key []byte) *worker {
	return c.workers[maphash.Bytes(c.seed, key)%uint64(len(c.workers))]
}

// Load reads key from L2 through its worker, joining a read of the same key
// already in flight, and fills L1 with the result unless an invalidation of
// the key overtook the read. It returns the entry read, or an error from
// Fetch, the caller's context, or kv.ErrClosed.
func (c *Coordinator) Load(ctx context.Context, key []byte) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	q := &request{done: make(chan struct{})}
	// The key is cloned because the worker uses it after this call may have
	// returned on a cancelled context.
	m := message{kind: kindLoad, key: bytes.Clone(key), req: q}
	if err := c.send(ctx, c.workerOf(key), m); err != nil {
		return Entry{}, err
	}
	return c.wait(ctx, q)
}

func (c *Coordinator) send(ctx context.Context, w *worker, m message) error {
	select {
	case w.loads <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stop:
		return kv.ErrClosed
	}
}

func (c *Coordinator) wait(ctx context.Context, q *request) (Entry, error) {
	select {
	case <-q.done:
		return q.entry, q.err
	case <-ctx.Done():
		return Entry{}, ctx.Err()
	case <-c.stop:
		return Entry{}, kv.ErrClosed
	}
}

// Invalidate drops keys from L1 and makes sure that no read of them already
// in flight fills L1 afterwards. It returns once every key's worker has
// applied it, so a Load that starts after Invalidate returns reads L2 anew.
// It ignores contexts on purpose: a write that has reached L2 must not leave
// its invalidation half done because its caller gave up.
func (c *Coordinator) Invalidate(keys [][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	c.stats.invalidations.Add(uint64(len(keys)))
	if len(keys) == 1 {
		return c.control(c.workerOf(keys[0]), message{kind: kindInvalidate, keys: keys})
	}
	groups := make(map[*worker][][]byte)
	for _, k := range keys {
		w := c.workerOf(k)
		groups[w] = append(groups[w], k)
	}
	return c.broadcast(func(w *worker) (message, bool) {
		ks, ok := groups[w]
		return message{kind: kindInvalidate, keys: ks}, ok
	})
}

// Reset makes sure that no read in flight fills L1 after it returns. The
// caller clears L1 afterwards: from then on only reads that started after
// Reset can fill it.
func (c *Coordinator) Reset() error {
	return c.broadcast(func(*worker) (message, bool) {
		return message{kind: kindReset}, true
	})
}

func (c *Coordinator) broadcast(build func(*worker) (message, bool)) error {
	var errs []error
	for _, w := range c.workers {
		if m, ok := build(w); ok {
			errs = append(errs, c.control(w, m))
		}
	}
	return errors.Join(errs...)
}

// control sends m to w and waits until w has applied it or has exited. It
// waits for the exit rather than for stop, so that the caller never gets its
// slices back while the worker may still be reading them.
func (c *Coordinator) control(w *worker, m message) error {
	m.done = make(chan struct{})
	select {
	case w.control <- m:
	case <-w.exited:
		return kv.ErrClosed
	}
	select {
	case <-m.done:
		return nil
	case <-w.exited:
		return kv.ErrClosed
	}
}
