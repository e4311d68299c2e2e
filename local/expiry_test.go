package local

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

// The tests in this file run in a synctest bubble: time advances only when
// every goroutine of the bubble, ristretto's included, is blocked, so the
// deadlines are exact and the tests take no real time.

// TestExpiredNeverReturned checks every read right at the deadline, while
// the sweeper has not run: the entry is still in ristretto but no method
// reports it.
func TestExpiredNeverReturned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := New(WithSweepInterval(time.Hour))
		require.NoError(t, err)
		defer c.Close()
		ctx := t.Context()
		key := []byte("short")
		require.NoError(t, c.Set(ctx, key, []byte("v"), 10*time.Millisecond))

		time.Sleep(10*time.Millisecond - time.Nanosecond)
		_, found, err := c.Get(ctx, key)
		require.NoError(t, err)
		require.True(t, found, "one nanosecond before the deadline")

		time.Sleep(time.Nanosecond)
		_, found, err = c.Get(ctx, key)
		require.NoError(t, err)
		assert.False(t, found, "Get at the deadline")
		exists, err := c.Exists(ctx, key)
		require.NoError(t, err)
		assert.False(t, exists, "Exists at the deadline")
		_, found, err = c.TTL(ctx, key)
		require.NoError(t, err)
		assert.False(t, found, "TTL at the deadline")
		values, err := c.MGet(ctx, [][]byte{key})
		require.NoError(t, err)
		assert.Equal(t, [][]byte{nil}, values)
		for k, err := range c.Scan(ctx, nil, 0) {
			require.NoError(t, err)
			assert.Fail(t, "Scan yielded an expired key", "%q", k)
		}
		ok, err := c.Expire(ctx, key, time.Minute)
		require.NoError(t, err)
		assert.False(t, ok, "Expire at the deadline")
		ok, err = c.CompareAndDelete(ctx, key, []byte("v"))
		require.NoError(t, err)
		assert.False(t, ok, "CompareAndDelete at the deadline")
		n, err := c.Incr(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, int64(1), n, "Incr treats an expired key as missing")
		left, _, err := c.TTL(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, kv.NoExpiry, left, "the new counter has no expiry")

		assert.Zero(t, c.Stats().Expirations, "the sweeper must not have run")
	})
}

func TestSweeperFreesBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := New(WithSweepInterval(100 * time.Millisecond))
		require.NoError(t, err)
		defer c.Close()
		ctx := t.Context()
		for i := range 100 {
			require.NoError(t, c.Set(ctx, []byte{'e', byte(i)}, make([]byte, 1000), 50*time.Millisecond))
		}
		require.NoError(t, c.Set(ctx, []byte("kept"), []byte("v"), 0))
		before := c.Stats()
		require.Greater(t, before.Cost, int64(100*1000))

		time.Sleep(150 * time.Millisecond)
		synctest.Wait()

		after := c.Stats()
		assert.Equal(t, uint64(100), after.Expirations)
		assert.Equal(t, newEntry([]byte("kept"), []byte("v"), 0).cost, after.Cost, "only the entry without ttl is left")
		got, found, err := c.Get(ctx, []byte("kept"))
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, "v", string(got))
	})
}

// TestSweeperSparesRewrittenKey checks that an entry replaced after it
// expired is not removed by a sweep that saw the old one.
func TestSweeperSparesRewrittenKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := New(WithSweepInterval(time.Hour))
		require.NoError(t, err)
		defer c.Close()
		ctx := t.Context()
		key := []byte("k")
		require.NoError(t, c.Set(ctx, key, []byte("old"), time.Millisecond))
		time.Sleep(time.Millisecond)

		old := c.lookupForTest(key)
		require.NotNil(t, old)
		require.NoError(t, c.Set(ctx, key, []byte("new"), 0))
		c.removeIfCurrent(old)

		got, found, err := c.Get(ctx, key)
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, "new", string(got))
		assert.Zero(t, c.Stats().Expirations)
	})
}

func TestTTLCountsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, err := New()
		require.NoError(t, err)
		defer c.Close()
		ctx := t.Context()
		key := []byte("k")
		require.NoError(t, c.Set(ctx, key, []byte("v"), 1500*time.Microsecond))
		left, found, err := c.TTL(ctx, key)
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, 2*time.Millisecond, left, "ttl rounds up to whole milliseconds")

		time.Sleep(500 * time.Microsecond)
		left, _, err = c.TTL(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, 1500*time.Microsecond, left)

		ok, err := c.Expire(ctx, key, time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		time.Sleep(30 * time.Second)
		left, _, err = c.TTL(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, 30*time.Second, left)
	})
}

// lookupForTest returns the entry stored under key, live or expired.
func (c *Client) lookupForTest(key []byte) *entry {
	g, err := c.enter(context.Background())
	if err != nil {
		return nil
	}
	defer g.mu.RUnlock()
	return c.lookup(key)
}
