package tiered

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/coordinator"
	"github.com/derp-kv/kv/internal/guard"
)

// TTLGetter is implemented by an L2 that reads values together with the time
// they have left to live, in one round trip. A Client fills L1 for no longer
// than that time, so without TTLGetter every miss that finds a value costs a
// second round trip for its TTL.
type TTLGetter interface {
	// MGetWithTTL returns, for each key in order, its value (nil when
	// missing) and its remaining ttl. The ttl is kv.NoExpiry for a key
	// without expiry, and is ignored for a missing key.
	MGetWithTTL(ctx context.Context, keys [][]byte) (values [][]byte, ttls []time.Duration, err error)
}

var (
	_ kv.Client = (*Client)(nil)
	_ kv.Viewer = (*Client)(nil)
)

// Client is an in-process L1 in front of a shared L2, kept coherent across
// processes by invalidation over L2's pub/sub. It implements kv.Client. It is
// safe for concurrent use; create it with [New].
type Client struct {
	l1, l2 kv.Client
	l1View kv.Viewer // l1 as a kv.Viewer, or nil
	opts   options
	coord  *coordinator.Coordinator
	guard  *guard.Guard     // nil when L2 is not a kv.Swapper
	ttls   TTLGetter        // nil when L2 does not implement it
	pub    kv.Publisher     // nil when invalidation is off
	sub    kv.Subscription  // nil when invalidation is off
	origin [originSize]byte // identifies this client's messages
	// started is the origin of heartbeat send times. It carries a monotonic
	// clock reading, so the lag of a heartbeat is immune to clock changes.
	started time.Time

	// epoch is stored in every L1 entry; an entry of an older epoch is a
	// miss. Bumping it clears L1 in O(1), and the old entries age out within
	// the L1 TTL.
	epoch atomic.Uint32
	// degraded is set while the invalidation subscription is taken as lost:
	// reads then go around L1 and nothing fills it.
	degraded atomic.Bool
	health   health

	closed atomic.Bool
	// writeMu orders the closed check of a write (read lock) before Close
	// sets closed (write lock). Close's wait on writes therefore includes
	// every write that passed the check.
	writeMu sync.RWMutex
	writes  sync.WaitGroup // writes past their closed check; see beginWrite
	stop    chan struct{}  // closed by Close; stops the heartbeat goroutine
	// publishes lets concurrent writes share invalidation publishes (see
	// publishInvalidation).
	publishes publishQueue
	wg        sync.WaitGroup
	closeErr  error
	once      sync.Once
	stats     counters
}

// New returns a Client with l1 as the in-process tier and l2 as the shared
// tier. Both are plain kv.Client values, and the Client owns them: Close
// closes both, and nothing else may write to l1, whose entries carry a
// header of their own. With invalidation on (the default), l2 must
// implement kv.Publisher and kv.Subscriber, and New subscribes before it
// returns. GetOrCompute needs l2 to implement kv.Swapper. When New returns
// an error, l1 and l2 stay open and remain the caller's to close.
func New(l1, l2 kv.Client, opts ...Option) (*Client, error) {
	if l1 == nil || l2 == nil {
		return nil, errors.New("kv: tiered: new: l1 and l2 are required")
	}
	o := defaultOptions()
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("kv: tiered: new: option %d is nil", i)
		}
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	c := &Client{l1: l1, l2: l2, opts: o, stop: make(chan struct{}), started: time.Now()}
	if _, err := rand.Read(c.origin[:]); err != nil {
		return nil, fmt.Errorf("kv: tiered: new: origin id: %w", err)
	}
	c.ttls, _ = l2.(TTLGetter)
	c.l1View, _ = l1.(kv.Viewer)

	cc := o.coordinator
	cc.Fetch, cc.Fill, cc.Drop = c.fetch, c.fill, c.drop
	coord, err := coordinator.New(cc)
	if err != nil {
		return nil, fmt.Errorf("kv: tiered: new: %w", err)
	}
	c.coord = coord

	if _, ok := l2.(kv.Swapper); ok {
		c.guard, err = guard.New(l2, guard.Options{
			LockTTL: o.lockTTL,
			Load:    l2.Get,
			Store:   c.set,
			Logger:  o.logger,
		})
		if err != nil {
			coord.Close()
			return nil, fmt.Errorf("kv: tiered: new: %w", err)
		}
	}
	if o.invalidation {
		if err := c.startInvalidation(); err != nil {
			// The tiers stay open: on failure they are still the caller's.
			_ = c.closeOwn()
			return nil, err
		}
	}
	return c, nil
}

// Connect connects both tiers.
func (c *Client) Connect(ctx context.Context) error {
	if c.closed.Load() {
		return c.closedError("connect")
	}
	if err := c.l1.Connect(ctx); err != nil {
		return fmt.Errorf("kv: tiered: connect l1: %w", err)
	}
	if err := c.l2.Connect(ctx); err != nil {
		return fmt.Errorf("kv: tiered: connect l2: %w", err)
	}
	return nil
}

// Close stops the coordinator, the heartbeats and the subscription, then
// closes both tiers. Reads in flight return an error wrapping kv.ErrClosed,
// and so does every later call. Close waits for writes in flight, so that
// the invalidation of a write that reached L2 is published. That wait takes
// at most the L2 request timeout plus twice the publish timeout, because a
// write whose keys wait for a shared publish first waits for the one in
// flight (see publishInvalidation). A GetOrCompute whose compute is running
// is waited for too, because other processes wait on its lock. Close is
// idempotent and returns the first error of the first call.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.writeMu.Lock()
		c.closed.Store(true)
		c.writeMu.Unlock()
		c.writes.Wait()
		close(c.stop)
		err := errors.Join(c.closeOwn(), c.l1.Close(), c.l2.Close())
		if err != nil {
			c.closeErr = fmt.Errorf("kv: tiered: close: %w", err)
		}
	})
	return c.closeErr
}

// closeOwn stops what the Client started, in dependency order: the
// heartbeats, then the subscription whose handler feeds the coordinator, then
// the guard whose Store writes through the Client, then the coordinator.
func (c *Client) closeOwn() error {
	c.wg.Wait()
	var errs []error
	if c.sub != nil {
		errs = append(errs, c.sub.Close())
	}
	if c.guard != nil {
		errs = append(errs, c.guard.Close())
	}
	c.coord.Close()
	return errors.Join(errs...)
}

// Capabilities returns L2's, which decides what the Client can do.
func (c *Client) Capabilities() kv.Capabilities {
	return c.l2.Capabilities()
}

func (c *Client) closedError(op string) error {
	return fmt.Errorf("kv: tiered: %s: %w", op, kv.ErrClosed)
}

// wrap adds the operation to err. A call that failed because Close ran
// underneath it reports kv.ErrClosed whatever error the tier gave.
func (c *Client) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	c.stats.errors.Add(1)
	if c.closed.Load() && !errors.Is(err, kv.ErrClosed) {
		return fmt.Errorf("kv: tiered: %s: %w (%w)", op, kv.ErrClosed, err)
	}
	return fmt.Errorf("kv: tiered: %s: %w", op, err)
}

// L1 entries start with a header: the epoch they were filled in, then a tag
// telling a value from a cached miss.
const (
	headerSize = 5
	tagValue   = 'v'
	tagMissing = 'm'
)

func (c *Client) encode(tag byte, value []byte) []byte {
	b := make([]byte, headerSize+len(value))
	binary.BigEndian.PutUint32(b, c.epoch.Load())
	b[4] = tag
	copy(b[headerSize:], value)
	return b
}

// lookup reads key from L1, without a copy when view is set and L1 is a
// kv.Viewer. hit is false when L1 has no entry of the current epoch; found
// is false for a cached miss.
func (c *Client) lookup(ctx context.Context, key []byte, view bool) (value []byte, found, hit bool) {
	if c.degraded.Load() {
		return nil, false, false
	}
	var b []byte
	var ok bool
	var err error
	if view && c.l1View != nil {
		b, ok, err = c.l1View.View(ctx, key)
	} else {
		b, ok, err = c.l1.Get(ctx, key)
	}
	if err != nil || !ok {
		return nil, false, false
	}
	return c.decode(b)
}

// decode splits an L1 entry into its value and whether it is a value or a
// cached miss. hit is false for an entry of an earlier epoch, which counts
// as absent.
func (c *Client) decode(b []byte) (value []byte, found, hit bool) {
	if len(b) < headerSize || binary.BigEndian.Uint32(b) != c.epoch.Load() {
		return nil, false, false
	}
	if b[4] == tagMissing {
		return nil, false, true
	}
	// The capacity is clipped so that an append to a value viewed from L1
	// copies instead of writing into L1's bytes.
	return b[headerSize:len(b):len(b)], true, true
}

// fill runs on the key's coordinator worker; see coordinator.Config.Fill.
func (c *Client) fill(key []byte, e coordinator.Entry) {
	if c.degraded.Load() || c.l2Only(key) {
		return
	}
	if !e.Found {
		if c.opts.negativeTTL > 0 {
			_ = c.l1.Set(context.Background(), key, c.encode(tagMissing, nil), c.opts.negativeTTL)
		}
		return
	}
	ttl := c.opts.l1TTL
	if e.TTL != kv.NoExpiry {
		// Count the key's time left from when its read was sent, not from
		// now: replies, the worker's queue and earlier fills of the batch
		// all took some of it.
		left := e.TTL
		if !e.ReadAt.IsZero() {
			left -= time.Since(e.ReadAt)
		}
		if left <= 0 {
			return // expired, or about to, since it was read
		}
		ttl = min(ttl, left)
	}
	// An L1 failure only costs a later miss, so it is not reported.
	_ = c.l1.Set(context.Background(), key, c.encode(tagValue, e.Value), ttl)
}

// l2Only reports whether key has one of the prefixes that never enter L1
// (WithL2OnlyPrefixes).
func (c *Client) l2Only(key []byte) bool {
	for _, p := range c.opts.l2Only {
		// The conversion in a comparison does not allocate.
		if len(key) >= len(p) && string(key[:len(p)]) == p {
			return true
		}
	}
	return false
}

func (c *Client) drop(key []byte) {
	_, _ = c.l1.Delete(context.Background(), key)
}

// fetch reads keys from L2 with their remaining TTL.
func (c *Client) fetch(ctx context.Context, keys [][]byte) ([]coordinator.Entry, error) {
	entries := make([]coordinator.Entry, len(keys))
	if c.ttls != nil {
		values, ttls, err := c.ttls.MGetWithTTL(ctx, keys)
		if err != nil {
			return nil, err
		}
		if len(values) != len(keys) || len(ttls) != len(keys) {
			return nil, fmt.Errorf("kv: tiered: MGetWithTTL returned %d values and %d ttls for %d keys", len(values), len(ttls), len(keys))
		}
		for i, v := range values {
			entries[i] = coordinator.Entry{Value: v, Found: v != nil, TTL: ttls[i]}
		}
		return entries, nil
	}

	values, err := c.l2.MGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	for i, v := range values {
		if v == nil {
			continue
		}
		// The TTL is read after the value, so it is no longer than what the
		// value had left. A key gone in between gets TTL 0 and no fill.
		ttl, found, err := c.l2.TTL(ctx, keys[i])
		if err != nil {
			return nil, err
		}
		if !found {
			ttl = 0
		}
		entries[i] = coordinator.Entry{Value: v, Found: true, TTL: ttl}
	}
	return entries, nil
}

// Get returns the value of key from L1, or on a miss from L2 through the
// coordinator. The coordinator shares one L2 read among concurrent misses of
// the key, and fills L1 with a TTL no longer than the key has left in L2.
func (c *Client) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	return c.get(ctx, key, false)
}

// View is Get without the copy of an L1 hit (see kv.Viewer): the returned
// slice is shared with L1 and must not be modified. The copy is skipped only
// when L1 implements kv.Viewer, as local.Client does. A value read from L2
// is the caller's own, as with Get.
func (c *Client) View(ctx context.Context, key []byte) ([]byte, bool, error) {
	return c.get(ctx, key, true)
}

// get is Get, or View when view is set.
func (c *Client) get(ctx context.Context, key []byte, view bool) ([]byte, bool, error) {
	op := "get"
	if view {
		op = "view"
	}
	if c.closed.Load() {
		return nil, false, c.closedError(op)
	}
	if v, found, hit := c.lookup(ctx, key, view); hit {
		c.stats.l1Hits.Add(1)
		return v, found, nil
	}
	e, err := c.coord.Load(ctx, key)
	if err != nil {
		return nil, false, c.wrap(op, err)
	}
	c.countL2(e.Found)
	if view && e.Value != nil {
		// kv.Viewer promises a capacity equal to the length, whichever
		// tier the value came from.
		return e.Value[:len(e.Value):len(e.Value)], e.Found, nil
	}
	return e.Value, e.Found, nil
}

func (c *Client) countL2(found bool) {
	if found {
		c.stats.l2Hits.Add(1)
	} else {
		c.stats.misses.Add(1)
	}
}

// MGet returns the values of keys in order, with nil for each missing key.
// Hits come from L1; every miss is read from L2 in one call, except keys
// that join a read already in flight.
func (c *Client) MGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	if c.closed.Load() {
		return nil, c.closedError("mget")
	}
	out := make([][]byte, len(keys))
	// One L1 MGet pays L1's fixed cost per call (for local, a lock stripe
	// and a clock read) once instead of once per key. An L1 error only
	// turns its hits into misses.
	var cached [][]byte
	if !c.degraded.Load() {
		cached, _ = c.l1.MGet(ctx, keys)
	}
	var missing [][]byte
	var at []int
	var hits uint64
	for i, k := range keys {
		if i < len(cached) && cached[i] != nil {
			if v, found, hit := c.decode(cached[i]); hit {
				hits++
				if found {
					out[i] = v
				}
				continue
			}
		}
		missing = append(missing, k)
		at = append(at, i)
	}
	c.stats.l1Hits.Add(hits)
	if len(missing) == 0 {
		if err := ctx.Err(); err != nil {
			return nil, c.wrap("mget", err)
		}
		return out, nil
	}
	entries, err := c.coord.LoadMany(ctx, missing)
	if err != nil {
		return nil, c.wrap("mget", err)
	}
	for j, e := range entries {
		c.countL2(e.Found)
		out[at[j]] = e.Value
	}
	return out, nil
}

// TTL returns the time key has left in L2.
func (c *Client) TTL(ctx context.Context, key []byte) (time.Duration, bool, error) {
	if c.closed.Load() {
		return 0, false, c.closedError("ttl")
	}
	ttl, found, err := c.l2.TTL(ctx, key)
	return ttl, found, c.wrap("ttl", err)
}

// Exists reports whether key exists in L2.
func (c *Client) Exists(ctx context.Context, key []byte) (bool, error) {
	if c.closed.Load() {
		return false, c.closedError("exists")
	}
	ok, err := c.l2.Exists(ctx, key)
	return ok, c.wrap("exists", err)
}

// Scan yields the keys of L2 that start with prefix.
func (c *Client) Scan(ctx context.Context, prefix []byte, limit int) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		if c.closed.Load() {
			yield(nil, c.closedError("scan"))
			return
		}
		for k, err := range c.l2.Scan(ctx, prefix, limit) {
			if !yield(k, c.wrap("scan", err)) || err != nil {
				return
			}
		}
	}
}
