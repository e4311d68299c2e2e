package kvtest_test

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/kvtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestReference runs the suite against a minimal map-based client, so a
// change to the suite that no correct client can pass shows up here, in the
// suite's own package, rather than in every tier at once.
func TestReference(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Client { return newMapClient() })
}

type entry struct {
	value   []byte
	expires time.Time // zero for no expiry
}

// mapClient keeps the contract in the simplest way: one mutex over a map.
type mapClient struct {
	mu     sync.Mutex // guards data and closed
	data   map[string]entry
	closed bool
}

func newMapClient() *mapClient { return &mapClient{data: map[string]entry{}} }

func (c *mapClient) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return kv.ErrClosed
	}
	return nil
}

func (c *mapClient) live(key string) (entry, bool) {
	e, ok := c.data[key]
	if ok && !e.expires.IsZero() && !time.Now().Before(e.expires) {
		delete(c.data, key)
		return entry{}, false
	}
	return e, ok
}

func writeTTL(ttl time.Duration) (time.Time, error) {
	if ttl < 0 {
		return time.Time{}, kv.ErrInvalidTTL
	}
	if ttl == 0 {
		return time.Time{}, nil
	}
	return time.Now().Add(max(ttl, time.Millisecond)), nil
}

func clone(b []byte) []byte { return append([]byte{}, b...) }

func (c *mapClient) Connect(context.Context) error { return nil }

func (c *mapClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *mapClient) Capabilities() kv.Capabilities { return kv.Capabilities{TTL: true, Scan: true} }

func (c *mapClient) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	if err := c.begin(ctx); err != nil {
		return nil, false, err
	}
	defer c.mu.Unlock()
	e, ok := c.live(string(key))
	if !ok {
		return nil, false, nil
	}
	return clone(e.value), true, nil
}

func (c *mapClient) Set(ctx context.Context, key, value []byte, ttl time.Duration) error {
	exp, err := writeTTL(ttl)
	if err != nil {
		return err
	}
	if err := c.begin(ctx); err != nil {
		return err
	}
	defer c.mu.Unlock()
	c.data[string(key)] = entry{clone(value), exp}
	return nil
}

func (c *mapClient) SetNX(ctx context.Context, key, value []byte, ttl time.Duration) (bool, error) {
	exp, err := writeTTL(ttl)
	if err != nil {
		return false, err
	}
	if err := c.begin(ctx); err != nil {
		return false, err
	}
	defer c.mu.Unlock()
	if _, ok := c.live(string(key)); ok {
		return false, nil
	}
	c.data[string(key)] = entry{clone(value), exp}
	return true, nil
}

func (c *mapClient) Delete(ctx context.Context, key []byte) (bool, error) {
	n, err := c.DeleteMany(ctx, [][]byte{key})
	return n == 1, err
}

func (c *mapClient) Exists(ctx context.Context, key []byte) (bool, error) {
	_, ok, err := c.Get(ctx, key)
	return ok, err
}

func (c *mapClient) MGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	if err := c.begin(ctx); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if e, ok := c.live(string(k)); ok {
			out[i] = clone(e.value)
		}
	}
	return out, nil
}

func (c *mapClient) MSet(ctx context.Context, items []kv.Item, ttl time.Duration) error {
	exp, err := writeTTL(ttl)
	if err != nil {
		return err
	}
	if err := c.begin(ctx); err != nil {
		return err
	}
	defer c.mu.Unlock()
	for _, it := range items {
		c.data[string(it.Key)] = entry{clone(it.Value), exp}
	}
	return nil
}

func (c *mapClient) DeleteMany(ctx context.Context, keys [][]byte) (int, error) {
	if err := c.begin(ctx); err != nil {
		return 0, err
	}
	defer c.mu.Unlock()
	n := 0
	for _, k := range keys {
		if _, ok := c.live(string(k)); ok {
			delete(c.data, string(k))
			n++
		}
	}
	return n, nil
}

func (c *mapClient) TTL(ctx context.Context, key []byte) (time.Duration, bool, error) {
	if err := c.begin(ctx); err != nil {
		return 0, false, err
	}
	defer c.mu.Unlock()
	e, ok := c.live(string(key))
	switch {
	case !ok:
		return 0, false, nil
	case e.expires.IsZero():
		return kv.NoExpiry, true, nil
	default:
		return time.Until(e.expires), true, nil
	}
}

func (c *mapClient) Expire(ctx context.Context, key []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, kv.ErrInvalidTTL
	}
	if err := c.begin(ctx); err != nil {
		return false, err
	}
	defer c.mu.Unlock()
	e, ok := c.live(string(key))
	if !ok {
		return false, nil
	}
	e.expires = time.Now().Add(max(ttl, time.Millisecond))
	c.data[string(key)] = e
	return true, nil
}

func (c *mapClient) Incr(ctx context.Context, key []byte) (int64, error) {
	if err := c.begin(ctx); err != nil {
		return 0, err
	}
	defer c.mu.Unlock()
	e, ok := c.live(string(key))
	var n int64
	if ok {
		var err error
		n, err = strconv.ParseInt(string(e.value), 10, 64)
		if err != nil || n == 1<<63-1 {
			return 0, fmt.Errorf("%w: %q", kv.ErrNotInteger, e.value)
		}
	}
	n++
	e.value = []byte(strconv.FormatInt(n, 10))
	c.data[string(key)] = e
	return n, nil
}

func (c *mapClient) Scan(ctx context.Context, prefix []byte, limit int) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		if err := c.begin(ctx); err != nil {
			yield(nil, err)
			return
		}
		var keys [][]byte
		for k := range c.data {
			if _, ok := c.live(k); ok && bytes.HasPrefix([]byte(k), prefix) {
				keys = append(keys, []byte(k))
			}
		}
		c.mu.Unlock()
		slices.SortFunc(keys, bytes.Compare)
		for i, k := range keys {
			if limit > 0 && i == limit {
				return
			}
			if !yield(k, nil) {
				return
			}
		}
	}
}
