package local

import (
	"bytes"
	"context"
	"iter"
	"time"

	"github.com/derp-kv/kv"
)

// ctxCheckEvery is how many entries a pass over the cache visits between
// two checks of its context.
const ctxCheckEvery = 4096

// Scan yields a copy of each live key that starts with the literal prefix,
// at most limit of them when limit > 0, in no particular order.
//
// Ristretto's store is the key index, because every stored value is an
// entry that carries its key. Ristretto removes an entry from the store
// when it evicts or deletes it, so a key that was evicted, deleted or
// expired before Scan started is never yielded. Scan first collects the matching entries under
// ristretto's shard locks, then yields their keys without holding any
// lock, so the loop body may call the client. A key written after the
// collection is not yielded; one deleted after it may still be. Expiry is
// checked again before each key is yielded.
//
// The collection visits every entry in the cache, whatever the prefix, so
// a Scan costs about as much as a sweep (see WithSweepInterval).
func (c *Client) Scan(ctx context.Context, prefix []byte, limit int) iter.Seq2[[]byte, error] {
	// The caller may change prefix before ranging over the sequence.
	prefix = bytes.Clone(prefix)
	return func(yield func([]byte, error) bool) {
		matches, err := c.collect(ctx, prefix, limit)
		if err != nil {
			yield(nil, opError("scan", err))
			return
		}
		for _, e := range matches {
			if err := c.scanErr(ctx); err != nil {
				yield(nil, opError("scan", err))
				return
			}
			if e.expired(c.now()) {
				continue
			}
			if !yield(copyBytes(e.key()), nil) {
				return
			}
		}
	}
}

// scanErr returns ctx.Err() or kv.ErrClosed once either applies.
func (c *Client) scanErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.closed.Load() {
		return kv.ErrClosed
	}
	return nil
}

// collect returns the live entries whose keys start with prefix, at most
// limit of them when limit > 0.
func (c *Client) collect(ctx context.Context, prefix []byte, limit int) ([]*entry, error) {
	now := c.now()
	return c.visit(ctx, func(e *entry, matches []*entry) ([]*entry, bool) {
		if !e.expired(now) && bytes.HasPrefix(e.key(), prefix) {
			matches = append(matches, e)
		}
		return matches, limit > 0 && len(matches) >= limit
	})
}

// visit calls match on every entry in the cache, under ristretto's shard
// locks, until it reports done, and returns the slice match built. It
// holds a gate meanwhile and stops with ctx.Err() when ctx is done.
func (c *Client) visit(ctx context.Context, match func(e *entry, acc []*entry) ([]*entry, bool)) ([]*entry, error) {
	g, err := c.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer g.mu.RUnlock()

	var acc []*entry
	visited := 0
	c.cache.IterValues(func(e *entry) bool {
		visited++
		if visited%ctxCheckEvery == 0 {
			if err = ctx.Err(); err != nil {
				return true
			}
		}
		if e == nil {
			return false
		}
		var done bool
		acc, done = match(e, acc)
		return done
	})
	if err != nil {
		return nil, err
	}
	return acc, nil
}

// sweep removes expired entries every c.sweepEvery until Close, so that
// their memory returns to the budget. Reads do not depend on it: they
// check the deadline themselves.
//
// Entries are stored in ristretto without a ttl. Ristretto's own cleanup
// (v2.4.2) deletes by key hash the keys its time bucket lists, and it
// deletes an item without expiry that replaced one of them meanwhile, so a
// Set racing with the cleanup could be lost. Here the sweeper deletes an entry only
// while holding the key's lock and after checking that the key still
// holds that very entry.
func (c *Client) sweep() {
	defer close(c.sweepDone)
	ticker := time.NewTicker(c.sweepEvery)
	defer ticker.Stop()
	for {
		select {
		case <-c.stopSweep:
			return
		case <-ticker.C:
			c.removeExpired()
		}
	}
}

// removeExpired makes one sweep.
func (c *Client) removeExpired() {
	now := c.now()
	expired, err := c.visit(context.Background(), func(e *entry, acc []*entry) ([]*entry, bool) {
		if e.expired(now) {
			acc = append(acc, e)
		}
		return acc, false
	})
	if err != nil {
		return // closed
	}
	for _, e := range expired {
		select {
		case <-c.stopSweep:
			return
		default:
		}
		c.removeIfCurrent(e)
	}
}

// removeIfCurrent deletes e's key if the key still holds e.
func (c *Client) removeIfCurrent(e *entry) {
	g, err := c.enter(context.Background())
	if err != nil {
		return
	}
	defer g.mu.RUnlock()
	key := e.key()
	mu := c.lockKey(key)
	defer mu.Unlock()

	if c.lookup(key) == e {
		c.remove(key)
		c.expirations.Add(1)
	}
}
