package patterns

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/internal/guard"
)

// PanicError is the error GuardedGet returns to every caller sharing a
// compute that panicked. Value is the panic value and Stack the stack of the
// goroutine that panicked.
type PanicError = guard.PanicError

// ErrLockHolderFailed is wrapped by the error GuardedGet returns to a caller
// that waited for another process's compute of the key, when that compute
// failed. The error text of the other process follows it.
var ErrLockHolderFailed = guard.ErrHolderFailed

// GuardOption configures GuardedGet.
type GuardOption func(*guardConfig)

type guardConfig struct {
	lockTTL    time.Duration
	retryDelay time.Duration
}

// WithLockTTL sets how long the lock lives unless its owner releases it
// first (default 2 s). Set it above the time compute usually takes: a
// compute that outlives it lets a second process compute the value. Waiters
// compute the value themselves after 1.5 times the lock TTL.
func WithLockTTL(d time.Duration) GuardOption {
	return func(c *guardConfig) { c.lockTTL = d }
}

// WithRetryDelay sets the interval at which waiters re-read the value when
// no notice wakes them (default 50 ms). It bounds how late a waiter reads the
// value on a client without pub/sub, and when a notice is lost.
func WithRetryDelay(d time.Duration) GuardOption {
	return func(c *guardConfig) { c.retryDelay = d }
}

// GuardedGet returns the value stored under key. On a miss, one caller in
// the fleet takes a lock key and runs compute, stores its value with ttl and
// releases the lock, while the other callers wait for that value instead of
// running compute too. c must implement kv.Swapper, which the lock needs:
// on any other client, a miss returns an error wrapping kv.ErrUnsupported.
//
// Concurrent calls for one key on one client in this process share one
// flight and one compute. A caller that waits is woken by a pub/sub notice
// when c implements kv.Publisher and kv.Subscriber. The calls in progress on
// a client share one subscription. The first call that has to wait opens it,
// and it closes when the last call in progress ends, so an idle client holds
// none. Without pub/sub, waiters poll at the retry delay.
//
// A waiter computes the value itself once it has waited 1.5 times the lock
// TTL, so a crashed lock owner delays callers by a bounded time. Compute
// runs detached from ctx: a caller whose ctx ends returns at once with an
// error wrapping ctx.Err(), and the compute goes on for the other callers,
// here and in other processes, bounded by 30 s. A compute error is returned
// to every caller sharing it and nothing is stored; a panic is returned as a
// *PanicError; callers waiting in other processes get an error wrapping
// ErrLockHolderFailed.
func GuardedGet(ctx context.Context, c kv.Client, key []byte, ttl time.Duration, compute func(context.Context) ([]byte, error), opts ...GuardOption) ([]byte, error) {
	if c == nil {
		panic("kv: patterns: guarded get: nil client")
	}
	if compute == nil {
		panic("kv: patterns: guarded get: nil compute function")
	}
	cfg := guardConfig{lockTTL: guard.DefaultLockTTL, retryDelay: guard.DefaultRetryDelay}
	if err := applyOptions("guarded get", &cfg, opts); err != nil {
		return nil, err
	}
	if cfg.lockTTL <= 0 || cfg.retryDelay <= 0 {
		return nil, fmt.Errorf("kv: patterns: guarded get: lock ttl (%v) and retry delay (%v) must be positive", cfg.lockTTL, cfg.retryDelay)
	}

	// A hit needs no flight: read in the caller's goroutine first, and pay
	// the flight's second read only on a miss.
	value, found, err := c.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("kv: patterns: guarded get: %w", err)
	}
	if found {
		return value, nil
	}

	g, err := guards.hold(c, cfg)
	if err != nil {
		return nil, fmt.Errorf("kv: patterns: guarded get: %w", err)
	}
	defer g.Release()
	value, _, err = g.Do(ctx, key, ttl, compute)
	if err != nil {
		return nil, fmt.Errorf("kv: patterns: guarded get: %w", err)
	}
	return value, nil
}

// guards shares one Guard among the concurrent GuardedGet calls of a client
// and configuration, so that they collapse into one flight per key and one
// subscription. An entry lives only while a call or flight uses it: the
// Guard's OnIdle hook removes it, and a Guard with ReleaseIdle holds no
// subscription and no goroutine once idle, so it needs no Close.
var guards = &guardRegistry{entries: make(map[guardKey]*guard.Guard)}

type guardKey struct {
	client kv.Client
	cfg    guardConfig
}

type guardRegistry struct {
	mu      sync.Mutex // guards entries, and orders Hold against removal
	entries map[guardKey]*guard.Guard
}

// hold returns the Guard for c and cfg with one more call counted on it.
// Hold runs under r.mu, so remove, which checks Active under r.mu too, never
// drops a Guard that a caller is about to use.
func (r *guardRegistry) hold(c kv.Client, cfg guardConfig) (*guard.Guard, error) {
	if !reflect.TypeOf(c).Comparable() {
		// Such a client cannot be a map key: each call gets its own Guard,
		// which still coordinates with other calls through the backend.
		g, err := newGuard(c, cfg, nil)
		if err != nil {
			return nil, err
		}
		g.Hold()
		return g, nil
	}

	k := guardKey{client: c, cfg: cfg}
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.entries[k]
	if g == nil {
		var err error
		g, err = newGuard(c, cfg, func(g *guard.Guard) { r.remove(k, g) })
		if err != nil {
			return nil, err
		}
		r.entries[k] = g
	}
	g.Hold()
	return g, nil
}

func (r *guardRegistry) remove(k guardKey, g *guard.Guard) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.entries[k] == g && g.Active() == 0 {
		delete(r.entries, k)
	}
}

func newGuard(c kv.Client, cfg guardConfig, onIdle func(*guard.Guard)) (*guard.Guard, error) {
	var g *guard.Guard
	opts := guard.Options{LockTTL: cfg.lockTTL, RetryDelay: cfg.retryDelay, ReleaseIdle: true}
	if onIdle != nil {
		// OnIdle runs only after New has returned and g is set, because it
		// follows a call that needs g.
		opts.OnIdle = func() { onIdle(g) }
	}
	g, err := guard.New(c, opts)
	return g, err
}
