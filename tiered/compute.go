package tiered

import (
	"context"
	"fmt"
	"time"

	"github.com/derp-kv/kv"
)

// GetOrCompute returns the value of key, computing it with compute when
// neither tier has it, and storing it in L2 with ttl (0 means no expiry).
//
// An L1 or L2 hit returns at once. On a miss, callers of the key in this
// process share one flight. Across every process sharing L2, one flight
// takes a lock in L2 and computes. The others wait for its value, woken by
// pub/sub with polling as a fallback. They compute it themselves if the
// holder has not stored a value after 1.5 times the lock TTL (see
// WithLockTTL).
// compute runs detached from the callers' contexts, so a caller that gives
// up does not cancel it. When compute returns an error or panics, every
// caller waiting for it gets an error, nothing is stored and the lock is
// released. A panic arrives as an error carrying the panic value and stack.
//
// The stored value goes through Set, so it invalidates the key in every
// process like any write. GetOrCompute needs an L2 that implements
// kv.Swapper, and returns an error wrapping kv.ErrUnsupported otherwise.
// It panics when compute is nil, as patterns.GuardedGet does.
func (c *Client) GetOrCompute(ctx context.Context, key []byte, ttl time.Duration, compute func(ctx context.Context) ([]byte, error)) ([]byte, error) {
	if compute == nil {
		panic("kv: tiered: getorcompute: nil compute function")
	}
	if c.closed.Load() {
		return nil, c.closedError("getorcompute")
	}
	if c.guard == nil {
		return nil, fmt.Errorf("kv: tiered: getorcompute: L2 %T does not implement kv.Swapper, which the compute lock needs: %w", c.l2, kv.ErrUnsupported)
	}
	v, found, err := c.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if found {
		return v, nil
	}
	// A cached miss in L1 counts as a miss here: the guard reads L2 itself,
	// so a value another process stored since is found.
	// The guard reads L2 again once it holds the lock, so a value that
	// another process stored just before is returned rather than computed.
	v, computed, err := c.guard.Do(ctx, key, ttl, func(ctx context.Context) ([]byte, error) {
		c.stats.computes.Add(1)
		return compute(ctx)
	})
	if err != nil {
		return nil, c.wrap("getorcompute", err)
	}
	if !computed {
		c.stats.lockWaits.Add(1)
	}
	return v, nil
}
