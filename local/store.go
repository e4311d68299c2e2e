package local

import (
	"context"
)

// lookup returns the entry stored under key, live or expired, or nil. The
// caller holds a gate. The lookup counts as an access for the admission
// policy, as a Get does.
func (c *Client) lookup(key []byte) *entry {
	e, ok := c.cache.Get(key)
	if !ok || e == nil || !e.hasKey(key) {
		return nil
	}
	return e
}

// live returns the entry stored under key if it has not expired, or nil.
func (c *Client) live(key []byte) *entry {
	e := c.lookup(key)
	// Entries without expiry skip reading the clock, which showed as 4% of
	// a hit's CPU time in BenchmarkGet.
	if e == nil || (e.expireAt != 0 && e.expired(c.now())) {
		return nil
	}
	return e
}

// put stores e under its key, replacing old, the entry the key holds now
// (nil if none). It returns once a Get of the key returns e, unless the
// admission policy rejected e or the cache evicted it to stay within the
// budget. The caller holds a gate and the key's lock, so old cannot change
// under it, except by an eviction.
//
// Ristretto applies a write to a key it already holds at once, but queues
// a write to a new key for its policy goroutine, and drops it when that
// queue is full. For a new key put therefore waits until the goroutine has
// processed the queue up to the write (Cache.Wait), and writes again if
// the write was dropped. That wait is the main cost of a Set of a new key;
// docs/local.md gives the figure.
func (c *Client) put(ctx context.Context, e, old *entry) error {
	key := e.key()
	replacing := false
	if old != nil && e.cost > old.cost {
		// Ristretto charges the larger cost of an update without evicting
		// anything, so updates that grow entries could overrun the budget.
		// Deleting first makes the new entry pass admission, which evicts
		// to make room.
		c.cache.Del(key)
		old = nil
		replacing = true
	}
	for {
		queued := c.cache.SetWithTTL(key, e, e.cost, 0)
		if queued && old != nil {
			// An update is visible at once, unless old was evicted after
			// the caller looked it up, which made this write a new key.
			if _, found := c.cache.GetTTL(key); found {
				return nil
			}
		}
		c.cache.Wait()
		if queued {
			return nil
		}
		// Once the old entry is deleted, giving up would lose the key's old
		// value along with the write, so retry even after the context has
		// ended. Wait has emptied ristretto's queue, so the next write is
		// queued.
		if err := ctx.Err(); err != nil && !replacing {
			return err
		}
	}
}

// remove deletes the entry stored under key. The caller holds a gate and
// the key's lock. Ristretto removes the entry from its store at once and
// queues the policy update behind any queued write, so no wait is needed.
func (c *Client) remove(key []byte) {
	c.cache.Del(key)
}

// lazyClock reads the clock on its first read and returns that reading
// from then on. A call over many keys thus reads the clock at most once,
// and not at all when none of the entries it finds has a deadline.
type lazyClock struct {
	c   *Client
	now int64
	set bool
}

func (l *lazyClock) read() int64 {
	if !l.set {
		l.now, l.set = l.c.now(), true
	}
	return l.now
}
