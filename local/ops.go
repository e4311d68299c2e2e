package local

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/internal/ttl"
)

// Get returns a copy of the value stored under key and whether it was
// found. An expired entry is never returned, even before the sweeper has
// removed it.
func (c *Client) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	e, err := c.find(ctx, key)
	if err != nil {
		return nil, false, opError("get", err)
	}
	if e == nil {
		return nil, false, nil
	}
	return copyBytes(e.value()), true, nil
}

// View is Get without the copy: it returns the stored bytes themselves,
// which the caller must not modify (see kv.Viewer). Entries are never
// modified once stored, so the bytes stay as they are after a later write
// of the key.
func (c *Client) View(ctx context.Context, key []byte) ([]byte, bool, error) {
	e, err := c.find(ctx, key)
	if err != nil {
		return nil, false, opError("view", err)
	}
	if e == nil {
		return nil, false, nil
	}
	v := e.value()
	if v == nil {
		// An empty key and value share a nil data slice, and a found
		// value is never nil.
		return []byte{}, true, nil
	}
	return v[:len(v):len(v)], true, nil
}

// find returns the live entry stored under key, or nil, and counts the hit
// or miss. Entries are immutable, so the caller may read the entry after
// find has released its gate.
func (c *Client) find(ctx context.Context, key []byte) (*entry, error) {
	g, err := c.enter(ctx)
	if err != nil {
		return nil, err
	}
	e := c.live(key)
	if e == nil {
		g.misses.Add(1)
	} else {
		g.hits.Add(1)
	}
	g.mu.RUnlock()
	return e, nil
}

// Set stores a copy of value under key with ttl (0 means no expiry),
// replacing any value and expiry the key had. A Get that follows returns
// the value unless the entry was evicted or refused to stay within the
// budget.
func (c *Client) Set(ctx context.Context, key, value []byte, ttl time.Duration) error {
	if err := c.set(ctx, key, value, ttl); err != nil {
		return opError("set", err)
	}
	return nil
}

// set is Set without the error prefix, shared with MSet.
func (c *Client) set(ctx context.Context, key, value []byte, ttlArg time.Duration) error {
	d, err := ttl.ForWrite(ttlArg)
	if err != nil {
		return err
	}
	g, err := c.enter(ctx)
	if err != nil {
		return err
	}
	defer g.mu.RUnlock()
	mu := c.lockKey(key)
	defer mu.Unlock()

	return c.put(ctx, newEntry(key, value, c.deadline(c.now(), d)), c.lookup(key))
}

// SetNX stores a copy of value under key with ttl only if the key does not
// exist (an expired key does not), and reports whether it stored it.
func (c *Client) SetNX(ctx context.Context, key, value []byte, ttlArg time.Duration) (bool, error) {
	d, err := ttl.ForWrite(ttlArg)
	if err != nil {
		return false, opError("setnx", err)
	}
	g, err := c.enter(ctx)
	if err != nil {
		return false, opError("setnx", err)
	}
	defer g.mu.RUnlock()
	mu := c.lockKey(key)
	defer mu.Unlock()

	old := c.lookup(key)
	if old != nil && !old.expired(c.now()) {
		return false, nil
	}
	if err := c.put(ctx, newEntry(key, value, c.deadline(c.now(), d)), old); err != nil {
		return false, opError("setnx", err)
	}
	return true, nil
}

// Delete removes key and reports whether it existed. An expired entry is
// removed too but does not count.
func (c *Client) Delete(ctx context.Context, key []byte) (bool, error) {
	g, err := c.enter(ctx)
	if err != nil {
		return false, opError("delete", err)
	}
	defer g.mu.RUnlock()
	return c.delete(key), nil
}

// delete removes key and reports whether it held a live entry. The caller
// holds a gate.
func (c *Client) delete(key []byte) bool {
	mu := c.lockKey(key)
	defer mu.Unlock()

	old := c.lookup(key)
	if old == nil {
		return false
	}
	c.remove(key)
	return !old.expired(c.now())
}

// Exists reports whether key holds an entry that has not expired.
func (c *Client) Exists(ctx context.Context, key []byte) (bool, error) {
	g, err := c.enter(ctx)
	if err != nil {
		return false, opError("exists", err)
	}
	defer g.mu.RUnlock()
	return c.live(key) != nil, nil
}

// MGet returns copies of the values of keys in order, with nil for each
// missing key.
func (c *Client) MGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	if len(keys) == 0 {
		return [][]byte{}, nil
	}
	g, err := c.enter(ctx)
	if err != nil {
		return nil, opError("mget", err)
	}
	defer g.mu.RUnlock()

	values := make([][]byte, len(keys))
	var hits uint64
	// One clock read serves every key. An entry that expires during the
	// call may still be returned, as it would be had its key been read
	// first. A Get of it after the MGet returns does not return it.
	now := lazyClock{c: c}
	for i, key := range keys {
		if e := c.lookup(key); e != nil && !(e.expireAt != 0 && e.expired(now.read())) {
			values[i] = copyBytes(e.value())
			hits++
		}
	}
	g.hits.Add(hits)
	g.misses.Add(uint64(len(keys)) - hits)
	return values, nil
}

// MSet stores a copy of every item with the same ttl, one key after
// another: a Get running concurrently may see some of the items and not
// others. A negative ttl stores nothing.
func (c *Client) MSet(ctx context.Context, items []kv.Item, ttlArg time.Duration) error {
	if _, err := ttl.ForWrite(ttlArg); err != nil {
		return opError("mset", err)
	}
	for _, it := range items {
		if err := c.set(ctx, it.Key, it.Value, ttlArg); err != nil {
			return opError("mset", err)
		}
	}
	return nil
}

// DeleteMany removes keys and returns how many of them existed. A key
// listed twice counts once.
func (c *Client) DeleteMany(ctx context.Context, keys [][]byte) (int, error) {
	deleted := 0
	for _, key := range keys {
		g, err := c.enter(ctx)
		if err != nil {
			return deleted, opError("deletemany", err)
		}
		if c.delete(key) {
			deleted++
		}
		g.mu.RUnlock()
	}
	return deleted, nil
}

// TTL returns the time key has left to live, or kv.NoExpiry for a key
// without expiry, and whether the key exists.
func (c *Client) TTL(ctx context.Context, key []byte) (time.Duration, bool, error) {
	g, err := c.enter(ctx)
	if err != nil {
		return 0, false, opError("ttl", err)
	}
	defer g.mu.RUnlock()

	e := c.lookup(key)
	if e == nil {
		return 0, false, nil
	}
	if e.expireAt == 0 {
		return kv.NoExpiry, true, nil
	}
	left := e.expireAt - c.now()
	if left <= 0 {
		return 0, false, nil
	}
	return time.Duration(left), true, nil
}

// Expire gives an existing key a new positive ttl and reports whether the
// key existed. WithMaxTTL caps the ttl.
func (c *Client) Expire(ctx context.Context, key []byte, ttlArg time.Duration) (bool, error) {
	d, err := ttl.ForExpire(ttlArg)
	if err != nil {
		return false, opError("expire", err)
	}
	g, err := c.enter(ctx)
	if err != nil {
		return false, opError("expire", err)
	}
	defer g.mu.RUnlock()
	mu := c.lockKey(key)
	defer mu.Unlock()

	old := c.live(key)
	if old == nil {
		return false, nil
	}
	if err := c.put(ctx, old.withExpiry(c.deadline(c.now(), d)), old); err != nil {
		return false, opError("expire", err)
	}
	return true, nil
}

// Incr adds one to the decimal integer stored under key (a missing key
// counts as 0), stores the result as decimal ASCII and returns it. The key
// keeps its expiry. It fails with kv.ErrNotInteger, leaving the value as
// it was, when the value is not a decimal int64 or the sum would overflow.
func (c *Client) Incr(ctx context.Context, key []byte) (int64, error) {
	g, err := c.enter(ctx)
	if err != nil {
		return 0, opError("incr", err)
	}
	defer g.mu.RUnlock()
	mu := c.lockKey(key)
	defer mu.Unlock()

	n, _, err := c.incr(ctx, key, 0)
	if err != nil {
		return 0, opError("incr", err)
	}
	return n, nil
}

// IncrWithTTL adds one to the integer under key as Incr does and, when the
// key has no expiry afterwards, sets ttl on it, in one atomic step. It
// returns the new count and the time the key has left to live.
func (c *Client) IncrWithTTL(ctx context.Context, key []byte, ttlArg time.Duration) (int64, time.Duration, error) {
	d, err := ttl.ForExpire(ttlArg)
	if err != nil {
		return 0, 0, opError("incrwithttl", err)
	}
	g, err := c.enter(ctx)
	if err != nil {
		return 0, 0, opError("incrwithttl", err)
	}
	defer g.mu.RUnlock()
	mu := c.lockKey(key)
	defer mu.Unlock()

	n, left, err := c.incr(ctx, key, d)
	if err != nil {
		return 0, 0, opError("incrwithttl", err)
	}
	return n, left, nil
}

// incr adds one to the counter under key. When ttlIfNone is positive and
// the key has no expiry, it sets that ttl. It returns the new count and
// the time left (kv.NoExpiry for none). The caller holds a gate and the
// key's lock.
func (c *Client) incr(ctx context.Context, key []byte, ttlIfNone time.Duration) (int64, time.Duration, error) {
	old := c.lookup(key)
	now := c.now()
	var n, expireAt int64
	if old != nil && !old.expired(now) {
		current, ok := parseCounter(old.value())
		if !ok || current == maxInt64 {
			return 0, 0, fmt.Errorf("%w: %q", kv.ErrNotInteger, truncate(old.value()))
		}
		n, expireAt = current+1, old.expireAt
	} else {
		n = 1
	}
	if expireAt == 0 {
		// With ttlIfNone 0 this is 0, unless WithMaxTTL sets a cap.
		expireAt = c.deadline(now, ttlIfNone)
	}

	var digits [20]byte
	e := newEntry(key, formatCounter(digits[:0], n), expireAt)
	if err := c.put(ctx, e, old); err != nil {
		return 0, 0, err
	}
	if expireAt == 0 {
		return n, kv.NoExpiry, nil
	}
	return n, time.Duration(expireAt - now), nil
}

// CompareAndSwap stores a copy of value under key with ttl (0 means no
// expiry) if the key holds old, or if old is nil and the key does not
// exist, and reports whether it stored the value. An empty non-nil old
// matches a stored empty value only.
func (c *Client) CompareAndSwap(ctx context.Context, key, old, value []byte, ttlArg time.Duration) (bool, error) {
	d, err := ttl.ForWrite(ttlArg)
	if err != nil {
		return false, opError("compareandswap", err)
	}
	g, err := c.enter(ctx)
	if err != nil {
		return false, opError("compareandswap", err)
	}
	defer g.mu.RUnlock()
	mu := c.lockKey(key)
	defer mu.Unlock()

	current := c.lookup(key)
	isLive := current != nil && !current.expired(c.now())
	switch {
	case old == nil && isLive:
		return false, nil
	case old != nil && (!isLive || !bytes.Equal(current.value(), old)):
		return false, nil
	}
	if err := c.put(ctx, newEntry(key, value, c.deadline(c.now(), d)), current); err != nil {
		return false, opError("compareandswap", err)
	}
	return true, nil
}

// CompareAndDelete deletes key if it holds old, and reports whether it
// did. A nil or empty old matches a stored empty value.
func (c *Client) CompareAndDelete(ctx context.Context, key, old []byte) (bool, error) {
	g, err := c.enter(ctx)
	if err != nil {
		return false, opError("compareanddelete", err)
	}
	defer g.mu.RUnlock()
	mu := c.lockKey(key)
	defer mu.Unlock()

	current := c.live(key)
	if current == nil || !bytes.Equal(current.value(), old) {
		return false, nil
	}
	c.remove(key)
	return true, nil
}

const maxInt64 = 1<<63 - 1

// truncate shortens a value quoted in an error message.
func truncate(b []byte) []byte {
	const limit = 32
	if len(b) > limit {
		return b[:limit]
	}
	return b
}
