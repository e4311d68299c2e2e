package remote_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/internal/valkeytest"
	"github.com/derp-kv/kv/remote"
)

func TestCompareAndSwap(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := testContext(t)
			c := newClient(t, mode.config())
			k := []byte(uniqueKey(t, "k"))

			ok, err := c.CompareAndSwap(ctx, k, nil, []byte("a"), 0)
			require.NoError(t, err)
			assert.True(t, ok, "nil old on a missing key")
			ttl, _, err := c.TTL(ctx, k)
			require.NoError(t, err)
			assert.Equal(t, kv.NoExpiry, ttl)

			ok, err = c.CompareAndSwap(ctx, k, nil, []byte("b"), 0)
			require.NoError(t, err)
			assert.False(t, ok, "nil old on an existing key")

			ok, err = c.CompareAndSwap(ctx, k, []byte("wrong"), []byte("b"), 0)
			require.NoError(t, err)
			assert.False(t, ok, "old does not match")

			ok, err = c.CompareAndSwap(ctx, k, []byte("a"), []byte(""), 1500*time.Millisecond)
			require.NoError(t, err)
			assert.True(t, ok, "old matches")
			requireTTLIn(t, c, k, 1400*time.Millisecond, 1500*time.Millisecond)
			v, found, err := c.Get(ctx, k)
			require.NoError(t, err)
			require.True(t, found)
			assert.Equal(t, []byte{}, v)

			ok, err = c.CompareAndSwap(ctx, k, []byte{}, []byte("c"), 0)
			require.NoError(t, err)
			assert.True(t, ok, "empty old matches an empty value")
			ttl, _, err = c.TTL(ctx, k)
			require.NoError(t, err)
			assert.Equal(t, kv.NoExpiry, ttl, "a swap without ttl clears the old one")

			missing := []byte(uniqueKey(t, "missing"))
			ok, err = c.CompareAndSwap(ctx, missing, []byte{}, []byte("x"), 0)
			require.NoError(t, err)
			assert.False(t, ok, "empty old does not match a missing key")

			_, err = c.CompareAndSwap(ctx, k, nil, []byte("x"), -time.Second)
			require.ErrorIs(t, err, kv.ErrInvalidTTL)
		})
	}
}

func TestCompareAndDelete(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := testContext(t)
			c := newClient(t, mode.config())
			k := []byte(uniqueKey(t, "k"))
			require.NoError(t, c.Set(ctx, k, []byte("owner-1"), time.Minute))

			ok, err := c.CompareAndDelete(ctx, k, []byte("owner-2"))
			require.NoError(t, err)
			assert.False(t, ok)
			ok, err = c.CompareAndDelete(ctx, k, []byte("owner-1"))
			require.NoError(t, err)
			assert.True(t, ok)
			ok, err = c.CompareAndDelete(ctx, k, []byte("owner-1"))
			require.NoError(t, err)
			assert.False(t, ok, "already deleted")
		})
	}
}

func TestIncrWithTTL(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := testContext(t)
			c := newClient(t, mode.config())
			k := []byte(uniqueKey(t, "k"))

			n, remaining, err := c.IncrWithTTL(ctx, k, 1500*time.Millisecond)
			require.NoError(t, err)
			assert.Equal(t, int64(1), n)
			assert.Equal(t, 1500*time.Millisecond, remaining)

			n, remaining, err = c.IncrWithTTL(ctx, k, time.Hour)
			require.NoError(t, err)
			assert.Equal(t, int64(2), n)
			assert.LessOrEqual(t, remaining, 1500*time.Millisecond, "a later call keeps the window's ttl")
			assert.Positive(t, remaining)

			// A key that lost its expiry gets the ttl again.
			require.NoError(t, c.Set(ctx, k, []byte("10"), 0))
			n, remaining, err = c.IncrWithTTL(ctx, k, time.Minute)
			require.NoError(t, err)
			assert.Equal(t, int64(11), n)
			assert.Equal(t, time.Minute, remaining)
			requireTTLIn(t, c, k, 59*time.Second, time.Minute)

			_, _, err = c.IncrWithTTL(ctx, k, time.Microsecond)
			require.NoError(t, err, "a sub-millisecond ttl rounds up")
		})
	}
}

func TestConcurrentSwappers(t *testing.T) {
	// Only one of many concurrent lock takers wins, and only the winner
	// can release the lock.
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := testContext(t)
			c := newClient(t, mode.config())
			k := []byte(uniqueKey(t, "lock"))
			for round := range 20 {
				var wins atomic.Int64
				var winner atomic.Value
				var wg sync.WaitGroup
				for i := range 16 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						token := []byte{byte(round), byte(i)}
						ok, err := c.CompareAndSwap(ctx, k, nil, token, time.Minute)
						assert.NoError(t, err)
						if ok {
							wins.Add(1)
							winner.Store(token)
						}
					}()
				}
				wg.Wait()
				require.Equal(t, int64(1), wins.Load(), "round %d", round)
				ok, err := c.CompareAndDelete(ctx, k, winner.Load().([]byte))
				require.NoError(t, err)
				require.True(t, ok)
			}
		})
	}
}

// TestScriptsOutliveOtherClient checks that closing one client leaves the
// Lua scripts usable by another client in the same process, even after the
// server has flushed them (as after a restart, a failover or SCRIPT FLUSH)
// and GLIDE must load them again.
func TestScriptsOutliveOtherClient(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := testContext(t)
			survivor := newClient(t, mode.config())
			key := []byte(uniqueKey(t, "cas"))

			other, err := remote.New(mode.config())
			require.NoError(t, err)
			_, err = other.CompareAndSwap(ctx, key, nil, []byte("a"), time.Minute)
			require.NoError(t, err)
			require.NoError(t, other.Close())

			nodes := []*valkeytest.Server{standaloneServer}
			if mode.name == "Cluster" {
				nodes = clusterServers.Nodes
			}
			for _, n := range nodes {
				_, err := n.CLI("SCRIPT", "FLUSH")
				require.NoError(t, err)
			}

			ok, err := survivor.CompareAndSwap(ctx, key, []byte("a"), []byte("b"), time.Minute)
			require.NoError(t, err, "CompareAndSwap")
			assert.True(t, ok)
			_, err = survivor.CompareAndDelete(ctx, key, []byte("b"))
			require.NoError(t, err, "CompareAndDelete")
			_, _, err = survivor.IncrWithTTL(ctx, []byte(uniqueKey(t, "n")), time.Minute)
			require.NoError(t, err, "IncrWithTTL")
		})
	}
}
