package tiered

import (
	"context"
	"errors"
	"time"

	"github.com/derp-kv/kv"
)

// Every write goes to L2 first and then invalidates the keys it touched. The
// coordinator drops them from this process's L1 and stops reads already in
// flight from filling the old value. With invalidation on, the keys are also
// published so that other processes drop them too. L1 is dropped rather than
// updated because two writers racing on one key could otherwise leave L1
// holding the value that lost in L2.

// Set stores value under key in L2 and invalidates key.
func (c *Client) Set(ctx context.Context, key, value []byte, ttl time.Duration) error {
	done, err := c.beginWrite("set")
	if err != nil {
		return err
	}
	defer done()
	return c.set(ctx, key, value, ttl)
}

// set is Set without the closed check. GetOrCompute stores through it, so
// that a compute that Close waits for can still store its value: the tiers
// close only after it.
func (c *Client) set(ctx context.Context, key, value []byte, ttl time.Duration) error {
	err := c.l2.Set(ctx, key, value, ttl)
	c.invalidate(err, true, key)
	return c.wrap("set", err)
}

// SetNX stores value under key in L2 only if key does not exist there, and
// invalidates key when it did store it.
func (c *Client) SetNX(ctx context.Context, key, value []byte, ttl time.Duration) (bool, error) {
	done, err := c.beginWrite("setnx")
	if err != nil {
		return false, err
	}
	defer done()
	set, err := c.l2.SetNX(ctx, key, value, ttl)
	c.invalidate(err, set || err != nil, key)
	return set, c.wrap("setnx", err)
}

// Delete removes key from L2 and invalidates it.
func (c *Client) Delete(ctx context.Context, key []byte) (bool, error) {
	done, err := c.beginWrite("delete")
	if err != nil {
		return false, err
	}
	defer done()
	deleted, err := c.l2.Delete(ctx, key)
	c.invalidate(err, deleted || err != nil, key)
	return deleted, c.wrap("delete", err)
}

// MSet stores every item in L2 and invalidates their keys.
func (c *Client) MSet(ctx context.Context, items []kv.Item, ttl time.Duration) error {
	done, err := c.beginWrite("mset")
	if err != nil {
		return err
	}
	defer done()
	if len(items) == 0 {
		return c.wrap("mset", c.l2.MSet(ctx, items, ttl))
	}
	err = c.l2.MSet(ctx, items, ttl)
	keys := make([][]byte, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	c.invalidate(err, true, keys...)
	return c.wrap("mset", err)
}

// DeleteMany removes keys from L2 and invalidates them.
func (c *Client) DeleteMany(ctx context.Context, keys [][]byte) (int, error) {
	done, err := c.beginWrite("deletemany")
	if err != nil {
		return 0, err
	}
	defer done()
	n, err := c.l2.DeleteMany(ctx, keys)
	c.invalidate(err, n > 0 || err != nil, keys...)
	return n, c.wrap("deletemany", err)
}

// Expire sets a new ttl on key in L2 and invalidates key, because its L1
// entry may outlive the new ttl.
func (c *Client) Expire(ctx context.Context, key []byte, ttl time.Duration) (bool, error) {
	done, err := c.beginWrite("expire")
	if err != nil {
		return false, err
	}
	defer done()
	ok, err := c.l2.Expire(ctx, key, ttl)
	c.invalidate(err, ok || err != nil, key)
	return ok, c.wrap("expire", err)
}

// Incr increments the integer under key in L2 and invalidates key.
func (c *Client) Incr(ctx context.Context, key []byte) (int64, error) {
	done, err := c.beginWrite("incr")
	if err != nil {
		return 0, err
	}
	defer done()
	n, err := c.l2.Incr(ctx, key)
	c.invalidate(err, true, key)
	return n, c.wrap("incr", err)
}

// invalidate drops keys from L1 after a write to L2 that ended with err, and
// publishes them when the write may have changed L2 (changed, or any error
// after which the write may still have been applied).
//
// The local drop comes before the publish and before the write returns, so
// a Get in this process that starts after the write returns never reads
// the old value. It runs even when the write failed, because a failed or
// timed-out write may still have reached L2, and L1 must not keep a value L2
// may no longer have.
func (c *Client) invalidate(err error, changed bool, keys ...[]byte) {
	if errors.Is(err, kv.ErrInvalidTTL) || errors.Is(err, kv.ErrNotInteger) {
		return // rejected before or without changing anything
	}
	if len(keys) == 0 || c.allL2Only(keys) {
		// No client has these keys in L1, so there is nothing to drop here or
		// elsewhere.
		return
	}
	// An error here means the coordinator is closed, so L1 no longer serves
	// anything.
	_ = c.coord.Invalidate(keys)
	if !changed || c.pub == nil {
		return
	}
	c.publishInvalidation(keys)
}

// allL2Only reports whether every key is one that never enters L1.
func (c *Client) allL2Only(keys [][]byte) bool {
	for _, k := range keys {
		if !c.l2Only(k) {
			return false
		}
	}
	return true
}

// beginWrite registers a write with the Client, or returns the error of op
// once Close has begun. The caller calls done when the write, its local
// drop and its publish have finished.
//
// Close waits for registered writes before it closes anything. A write that
// reached L2 therefore always gets to publish its invalidation. Were L2
// closed under it, the write could land in Valkey, fail here with
// kv.ErrClosed, and leave every other process serving the old value from L1
// for up to the L1 TTL, with healthy heartbeats and so no degraded state.
func (c *Client) beginWrite(op string) (done func(), err error) {
	c.writeMu.RLock()
	defer c.writeMu.RUnlock()
	if c.closed.Load() {
		return nil, c.closedError(op)
	}
	c.writes.Add(1)
	return c.writes.Done, nil
}
