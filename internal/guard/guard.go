package guard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/derp-kv/kv"
)

// Defaults for [Options] fields left zero.
const (
	DefaultLockTTL        = 2 * time.Second
	DefaultRetryDelay     = 50 * time.Millisecond
	DefaultComputeTimeout = 30 * time.Second
	DefaultLockPrefix     = "derp:lock:"
	DefaultChannel        = "derp:guard"
)

// ErrHolderFailed is wrapped by the error [Guard.Do] returns to a waiter
// whose lock holder, in another process, reported that its compute failed.
var ErrHolderFailed = errors.New("kv: guard: compute failed in the lock holder")

// PanicError is the error [Guard.Do] returns to every caller of a flight
// whose compute panicked.
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the stack of the goroutine that panicked, from debug.Stack.
	Stack []byte
}

// Error returns the panic value followed by the stack.
func (e *PanicError) Error() string {
	return fmt.Sprintf("kv: guard: compute panicked: %v\n\n%s", e.Value, e.Stack)
}

// Unwrap returns the panic value when it is an error, so errors.Is
// matches the error of a panic(err).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Options configures a [Guard]. The zero value is valid: every zero field
// takes its default.
type Options struct {
	// LockTTL is how long a lock lives unless its owner releases it first.
	// Set it above the time a compute usually takes: a compute that outlives
	// it lets a second process compute the same value. Default 2 s.
	LockTTL time.Duration
	// RetryDelay is the interval at which a waiter re-reads the value when no
	// notice wakes it. Without pub/sub it bounds how late waiters see the
	// value; with pub/sub it only matters when a notice is lost. Default 50 ms.
	RetryDelay time.Duration
	// WaitBudget is how long a waiter waits for another process's compute
	// before it computes the value itself. Default LockTTL + LockTTL/2: the
	// lock has then expired, so a live owner has had its whole lock TTL and
	// a crashed owner's lock is gone.
	WaitBudget time.Duration
	// ComputeTimeout bounds a compute, which runs detached from the callers'
	// contexts. Default 30 s.
	ComputeTimeout time.Duration
	// LockPrefix is put in front of a key to form its lock key. Default
	// "derp:lock:".
	LockPrefix []byte
	// Channel is the pub/sub channel on which owners send their notices.
	// Every process guarding the same keys must use the same channel.
	// Default "derp:guard".
	Channel string
	// Load reads the value of key; found=false means a miss. A tiered client
	// sets it to read through its own tiers. Default: the client's Get.
	Load func(ctx context.Context, key []byte) (value []byte, found bool, err error)
	// Store writes a computed value with its ttl. Default: the client's Set.
	Store func(ctx context.Context, key, value []byte, ttl time.Duration) error
	// ReleaseIdle closes the subscription whenever no call is in progress,
	// and opens it again for the next wait. A Guard made for one burst of
	// calls sets it, so that an idle Guard holds no subscription. Default
	// false: the subscription lives until Close.
	ReleaseIdle bool
	// OnIdle, when set, is called each time the last call in progress ends.
	// It runs without any lock of the Guard held and may call
	// [Guard.Active].
	OnIdle func()
	// Logger receives the failures that reach no caller: a lost store, lock
	// release, notice or subscription. Default: nothing is logged.
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.LockTTL < 0 || o.RetryDelay < 0 || o.WaitBudget < 0 || o.ComputeTimeout < 0 {
		return o, fmt.Errorf("kv: guard: new: durations must not be negative (lock ttl %v, retry delay %v, wait budget %v, compute timeout %v)",
			o.LockTTL, o.RetryDelay, o.WaitBudget, o.ComputeTimeout)
	}
	if o.LockTTL == 0 {
		o.LockTTL = DefaultLockTTL
	}
	if o.RetryDelay == 0 {
		o.RetryDelay = DefaultRetryDelay
	}
	if o.WaitBudget == 0 {
		o.WaitBudget = o.LockTTL + o.LockTTL/2
	}
	if o.ComputeTimeout == 0 {
		o.ComputeTimeout = DefaultComputeTimeout
	}
	if o.LockPrefix == nil {
		o.LockPrefix = []byte(DefaultLockPrefix)
	}
	o.LockPrefix = bytes.Clone(o.LockPrefix)
	if o.Channel == "" {
		o.Channel = DefaultChannel
	}
	return o, nil
}

// Guard makes the processes sharing a backend compute a missing key once:
// one holds the lock and computes while the others wait for its value. A
// compute that outlives its lock TTL, or a waiter whose wait budget runs out,
// computes the key a second time. A Guard is safe for concurrent use. Create it with [New] and end it with
// [Guard.Close].
type Guard struct {
	c       kv.Client
	swapper kv.Swapper
	pub     kv.Publisher  // nil when the client cannot publish
	sub     kv.Subscriber // nil when the client cannot subscribe
	opts    Options

	flights sync.WaitGroup // counts flight goroutines, for Close

	mu          sync.Mutex // guards the fields below
	closed      bool
	active      int                // calls in Do plus flights running
	inputs      map[string]*flight // flight in progress per key
	waiters     map[string]map[*waiter]struct{}
	notices     kv.Subscription // nil until the first wait, or after a failure
	subscribing bool            // whether a Subscribe call is in progress
	subErr      time.Time       // when subscribing last failed
}

// New returns a Guard over c, which must implement kv.Swapper. It opens no
// connection: the subscription for notices is made by the first wait.
func New(c kv.Client, opts Options) (*Guard, error) {
	swapper, ok := c.(kv.Swapper)
	if !ok {
		return nil, fmt.Errorf("kv: guard: new: %T does not implement kv.Swapper, which locks need: %w", c, kv.ErrUnsupported)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &Guard{
		c:       c,
		swapper: swapper,
		opts:    opts,
		inputs:  make(map[string]*flight),
		waiters: make(map[string]map[*waiter]struct{}),
	}
	// Notices need both halves: a waiter that can subscribe but whose owners
	// cannot publish would wait for nothing.
	pub, canPublish := c.(kv.Publisher)
	sub, canSubscribe := c.(kv.Subscriber)
	if canPublish && canSubscribe {
		g.pub, g.sub = pub, sub
	}
	if g.opts.Load == nil {
		g.opts.Load = c.Get
	}
	if g.opts.Store == nil {
		g.opts.Store = c.Set
	}
	return g, nil
}

// Close ends the subscription and waits for the flights in progress: their
// waits stop at once, but a compute already running finishes (bounded by
// Options.ComputeTimeout), because other processes wait on its lock. Calls
// to Do after Close return kv.ErrClosed. Close is idempotent.
func (g *Guard) Close() error {
	g.mu.Lock()
	g.closed = true
	for _, f := range g.inputs {
		f.cancel()
	}
	notices := g.notices
	g.notices = nil
	g.mu.Unlock()

	g.flights.Wait()
	if notices != nil {
		return notices.Close()
	}
	return nil
}

// Active returns the number of calls to Do and flights in progress.
func (g *Guard) Active() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.active
}

// Hold counts one more call in progress until the matching [Guard.Release],
// so that a registry sharing one Guard among callers can tell, under its
// own lock, that the Guard is about to be used and must not be dropped.
func (g *Guard) Hold() {
	g.mu.Lock()
	g.active++
	g.mu.Unlock()
}

// Release ends a [Guard.Hold].
func (g *Guard) Release() {
	g.mu.Lock()
	g.leaveLocked()
}

// leaveLocked decrements active with g.mu held, and unlocks it. When no call
// is left it releases an idle subscription and calls OnIdle, both outside
// the lock.
func (g *Guard) leaveLocked() {
	g.active--
	idle := g.active == 0
	var notices kv.Subscription
	if idle && g.opts.ReleaseIdle {
		notices, g.notices = g.notices, nil
	}
	g.mu.Unlock()

	if notices != nil {
		if err := notices.Close(); err != nil {
			g.logError("close idle subscription", nil, err)
		}
	}
	if idle && g.opts.OnIdle != nil {
		g.opts.OnIdle()
	}
}

// Do returns the value of key. When key is missing, Do computes it with
// compute, once across the fleet except in the cases the Guard type names,
// and stores it with ttl. computed reports
// whether this process ran compute for the value returned; callers of one
// flight share it. The value is a fresh copy for each caller.
//
// Concurrent callers of one key in this process share one flight, which
// uses the compute of the caller that started it. A caller whose ctx ends
// returns an error wrapping ctx.Err() without stopping the flight.
func (g *Guard) Do(ctx context.Context, key []byte, ttl time.Duration, compute func(context.Context) ([]byte, error)) (value []byte, computed bool, err error) {
	if compute == nil {
		panic("kv: guard: do: nil compute function")
	}
	if ttl < 0 {
		return nil, false, fmt.Errorf("kv: guard: do: %w: %v is negative (use 0 for no expiry)", kv.ErrInvalidTTL, ttl)
	}
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("kv: guard: do: %w", err)
	}

	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, false, fmt.Errorf("kv: guard: do: %w", kv.ErrClosed)
	}
	g.active++
	f, ok := g.inputs[string(key)]
	if !ok {
		f = g.startLocked(ctx, bytes.Clone(key), ttl, compute)
	}
	f.callers++
	g.mu.Unlock()

	select {
	case <-f.done:
		g.mu.Lock()
		g.leaveLocked()
		if f.err != nil {
			return nil, false, f.err
		}
		return bytes.Clone(f.value), f.computed, nil
	case <-ctx.Done():
		g.mu.Lock()
		f.callers--
		if f.callers == 0 {
			// The flight's own goroutine still ends it; a later caller must
			// not join a flight whose wait is being cancelled.
			f.cancel()
			if g.inputs[string(f.key)] == f {
				delete(g.inputs, string(f.key))
			}
		}
		g.leaveLocked()
		return nil, false, fmt.Errorf("kv: guard: do: %w", ctx.Err())
	}
}

// flight is one run of the protocol for one key, shared by the callers of
// that key in this process. Its fields other than callers are written by the
// flight goroutine before done is closed and read by callers after it.
type flight struct {
	key      []byte
	done     chan struct{}
	cancel   context.CancelFunc
	callers  int // guarded by Guard.mu
	value    []byte
	computed bool
	err      error
}

// startLocked starts a flight for key with g.mu held. The flight context
// keeps the values of the first caller's ctx (trace ids, for instance) but
// not its cancellation.
func (g *Guard) startLocked(ctx context.Context, key []byte, ttl time.Duration, compute func(context.Context) ([]byte, error)) *flight {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &flight{key: key, done: make(chan struct{}), cancel: cancel}
	g.inputs[string(key)] = f
	g.active++
	g.flights.Add(1)
	go g.fly(fctx, f, ttl, compute)
	return f
}

func (g *Guard) fly(ctx context.Context, f *flight, ttl time.Duration, compute func(context.Context) ([]byte, error)) {
	defer g.flights.Done()
	f.value, f.computed, f.err = g.run(ctx, f.key, ttl, compute)
	f.cancel()

	g.mu.Lock()
	if g.inputs[string(f.key)] == f {
		delete(g.inputs, string(f.key))
	}
	close(f.done)
	g.leaveLocked()
}

// runCompute calls compute detached from ctx's cancellation, with its own
// deadline, and turns a panic into a *PanicError.
func (g *Guard) runCompute(ctx context.Context, compute func(context.Context) ([]byte, error)) (value []byte, err error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.opts.ComputeTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			value, err = nil, &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	value, err = compute(cctx)
	if err != nil {
		return nil, err
	}
	if value == nil {
		// A nil value would read back as found-but-empty from some tiers
		// and as missing from none, so store it as the empty value.
		value = []byte{}
	}
	return value, nil
}

func (g *Guard) logError(op string, key []byte, err error) {
	if g.opts.Logger != nil {
		g.opts.Logger.Warn("kv: guard: "+op+" failed", slog.String("key", fmt.Sprintf("%q", key)), slog.Any("error", err))
	}
}
