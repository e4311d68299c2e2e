package tiered

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/internal/valkeytest"
	"github.com/derp-kv/kv/kvtest"
	"github.com/derp-kv/kv/remote"
)

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func() remote.Config
	}{
		{"standalone", standaloneConfig},
		{"cluster", clusterConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kvtest.Run(t, func(t *testing.T) kv.Client {
				c, err := New(newLocal(t), newRemote(t, tc.cfg()), WithNegativeCaching(time.Second))
				require.NoError(t, err)
				return c
			})
		})
	}
}

// TestConformanceOverLocalL2 runs the suite with a local L2, which has no
// TTLGetter and no pub/sub: misses read the value and then its TTL.
func TestConformanceOverLocalL2(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Client {
		c, err := New(newLocal(t), newLocal(t), WithoutInvalidation())
		require.NoError(t, err)
		return c
	})
}

func TestFillWithoutTTLGetterKeepsL2TTL(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, newLocal(t), WithoutInvalidation())
	k := uniqueKey(t, "fallback")
	require.NoError(t, c.l2.Set(ctx, k, []byte("v"), 2*time.Second))
	requireGet(t, c, k, "v")
	ttl, found, err := c.l1.TTL(ctx, k)
	require.NoError(t, err)
	require.True(t, found, "the miss must fill L1")
	assert.LessOrEqual(t, ttl, 2*time.Second)
	assert.Positive(t, ttl)
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
	}{
		{"zero L1 TTL", WithL1TTL(0)},
		{"negative L1 TTL", WithL1TTL(-time.Second)},
		{"negative-caching TTL above L1 TTL", WithNegativeCaching(2 * DefaultL1TTL)},
		{"empty channel", WithInvalidation("")},
		{"zero heartbeat", WithHeartbeat(0, 3)},
		{"zero missed heartbeats", WithHeartbeat(time.Second, 0)},
		{"zero workers", WithWorkers(0, 10)},
		{"zero queue", WithWorkers(4, 0)},
		{"zero batch", WithBatching(0, 1)},
		{"zero lock TTL", WithLockTTL(0)},
		{"nil option", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A failed New leaves the tiers open: they are still ours.
			l1, l2 := newLocal(t), newLocal(t)
			defer l1.Close()
			defer l2.Close()
			_, err := New(l1, l2, WithoutInvalidation(), tc.opt)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "kv: tiered: new:")
		})
	}
}

func TestGetOrComputeNilComputePanics(t *testing.T) {
	c, err := New(newLocal(t), newLocal(t), WithoutInvalidation())
	require.NoError(t, err)
	defer c.Close()
	assert.PanicsWithValue(t, "kv: tiered: getorcompute: nil compute function", func() {
		_, _ = c.GetOrCompute(context.Background(), []byte("k"), time.Minute, nil)
	})
}

func TestNewWithoutPubSubNeedsOptOut(t *testing.T) {
	l1, l2 := newLocal(t), newLocal(t)
	defer l1.Close()
	defer l2.Close()
	_, err := New(l1, l2)
	require.ErrorIs(t, err, kv.ErrUnsupported)

	c, err := New(l1, l2, WithoutInvalidation())
	require.NoError(t, err)
	require.NoError(t, c.Close())
}

func TestGetFillsL1WithL2TTL(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, newRemote(t, standaloneConfig()), WithL1TTL(time.Hour))
	short, long := uniqueKey(t, "short"), uniqueKey(t, "long")
	require.NoError(t, c.l2.Set(ctx, short, []byte("s"), 2*time.Second))
	require.NoError(t, c.l2.Set(ctx, long, []byte("l"), 0))

	for _, k := range [][]byte{short, long} {
		v, found, err := c.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, found)
		require.NotEmpty(t, v)
	}
	ttl, found, err := c.l1.TTL(ctx, short)
	require.NoError(t, err)
	require.True(t, found, "the miss must fill L1")
	assert.LessOrEqual(t, ttl, 2*time.Second, "L1 must not outlive the key in L2")
	ttl, found, err = c.l1.TTL(ctx, long)
	require.NoError(t, err)
	require.True(t, found)
	assert.Greater(t, ttl, 59*time.Minute, "a key without expiry in L2 gets the L1 TTL cap")
	assert.LessOrEqual(t, ttl, time.Hour)

	before := c.Stats().L1Hits
	_, _, err = c.Get(ctx, long)
	require.NoError(t, err)
	assert.Equal(t, before+1, c.Stats().L1Hits)
}

func TestConcurrentMissesShareOneRead(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, newRemote(t, standaloneConfig()))
	k := uniqueKey(t, "shared")
	require.NoError(t, c.Set(ctx, k, []byte("v"), 0))

	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			v, found, err := c.Get(ctx, k)
			assert.NoError(t, err)
			assert.True(t, found)
			assert.Equal(t, "v", string(v))
		})
	}
	wg.Wait()
	s := c.Stats()
	assert.Equal(t, uint64(64), s.L1Hits+s.L2Hits, "every Get is answered from one tier or the other")
	assert.LessOrEqual(t, s.FetchedKeys, s.L2Hits, "reads of L2 never exceed the misses")
	assert.Equal(t, s.L2Hits, s.FetchedKeys+s.Shared, "each miss either read L2 or joined a read")
}

func TestMGetReadsMissesInOneCall(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, newRemote(t, clusterConfig()))
	var keys [][]byte
	var items []kv.Item
	for i := range 20 {
		k := uniqueKey(t, strconv.Itoa(i))
		keys = append(keys, k)
		items = append(items, kv.Item{Key: k, Value: []byte(strconv.Itoa(i))})
	}
	require.NoError(t, c.MSet(ctx, items[:10], 0))
	_, _, err := c.Get(ctx, keys[0]) // one L1 hit to come
	require.NoError(t, err)

	before := c.Stats()
	values, err := c.MGet(ctx, keys)
	require.NoError(t, err)
	for i, v := range values {
		if i < 10 {
			assert.Equal(t, strconv.Itoa(i), string(v))
		} else {
			assert.Nil(t, v)
		}
	}
	after := c.Stats()
	assert.Equal(t, before.Fetches+1, after.Fetches, "the 19 misses must be read in one call")
	assert.Equal(t, before.L1Hits+1, after.L1Hits)
}

func TestNegativeCachingIsInvalidated(t *testing.T) {
	ctx := testContext(t)
	cfg := standaloneConfig()
	a := newClient(t, newRemote(t, cfg), WithNegativeCaching(time.Minute))
	b := newClient(t, newRemote(t, cfg), WithNegativeCaching(time.Minute))
	k := uniqueKey(t, "negative")

	_, found, err := b.Get(ctx, k)
	require.NoError(t, err)
	require.False(t, found)
	hits := b.Stats().L1Hits
	_, found, err = b.Get(ctx, k)
	require.NoError(t, err)
	require.False(t, found)
	require.Equal(t, hits+1, b.Stats().L1Hits, "the second miss must come from L1")

	require.NoError(t, a.Set(ctx, k, []byte("now"), 0))
	require.Eventually(t, func() bool {
		v, _, err := b.Get(ctx, k)
		return err == nil && string(v) == "now"
	}, 5*time.Second, time.Millisecond)
}

func TestWriteOnOneClientInvalidatesOthers(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func() remote.Config
	}{
		{"standalone", standaloneConfig},
		{"cluster", clusterConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			// Negative caching lets B hold the key in L1 after the deletes too.
			a := newClient(t, newRemote(t, tc.cfg()), WithNegativeCaching(time.Minute))
			b := newClient(t, newRemote(t, tc.cfg()), WithNegativeCaching(time.Minute))
			k := uniqueKey(t, "shared")
			require.NoError(t, a.Set(ctx, k, []byte("v1"), 0))

			writes := []struct {
				name  string
				write func() error
				want  string
			}{
				{"set", func() error { return a.Set(ctx, k, []byte("v2"), 0) }, "v2"},
				{"mset", func() error { return a.MSet(ctx, []kv.Item{{Key: k, Value: []byte("v3")}}, 0) }, "v3"},
				{"delete", func() error { _, err := a.Delete(ctx, k); return err }, ""},
				{"setnx", func() error { _, err := a.SetNX(ctx, k, []byte("4"), 0); return err }, "4"},
				{"incr", func() error { _, err := a.Incr(ctx, k); return err }, "5"},
				{"deletemany", func() error { _, err := a.DeleteMany(ctx, [][]byte{k}); return err }, ""},
			}
			for _, w := range writes {
				warmL1(t, b, k, getOf(t, a, k))
				require.NoError(t, w.write(), w.name)
				require.Eventually(t, func() bool {
					v, _, err := b.Get(ctx, k)
					return err == nil && string(v) == w.want
				}, 5*time.Second, time.Millisecond, "B must see %s from A", w.name)
			}
			assert.Positive(t, b.Stats().InvalidationsReceived)
			assert.Positive(t, a.Stats().InvalidationsSent)
		})
	}
}

func getOf(t testing.TB, c *Client, k []byte) string {
	t.Helper()
	v, _, err := c.Get(testContext(t), k)
	require.NoError(t, err)
	return string(v)
}

func requireGet(t *testing.T, c *Client, k []byte, want string) {
	t.Helper()
	require.Equal(t, want, getOf(t, c, k))
}

// warmL1 reads k on c until the read is an L1 hit that returns want. An
// invalidation of an earlier write may still arrive and drop the first fill.
func warmL1(t testing.TB, c *Client, k []byte, want string) {
	t.Helper()
	require.Eventually(t, func() bool {
		before := c.Stats().L1Hits
		v := getOf(t, c, k)
		return v == want && c.Stats().L1Hits == before+1
	}, 5*time.Second, time.Millisecond)
}

func TestGetOrComputeOnceAcrossClients(t *testing.T) {
	const clients, goroutines = 4, 256
	for _, keyCount := range []int{1, 100} {
		t.Run(fmt.Sprintf("%d keys", keyCount), func(t *testing.T) {
			ctx := testContext(t)
			var cs []*Client
			for range clients {
				cs = append(cs, newClient(t, newRemote(t, standaloneConfig())))
			}
			keys := make([][]byte, keyCount)
			runs := make([]atomic.Int32, keyCount)
			for i := range keys {
				keys[i] = uniqueKey(t, strconv.Itoa(i))
			}

			var wg sync.WaitGroup
			for ci, c := range cs {
				for g := range goroutines {
					wg.Go(func() {
						// Each goroutine walks every key from its own offset,
						// so every key gets misses from every client at once.
						for j := range keyCount {
							i := (ci*goroutines + g + j) % keyCount
							v, err := c.GetOrCompute(ctx, keys[i], time.Minute, func(context.Context) ([]byte, error) {
								runs[i].Add(1)
								time.Sleep(20 * time.Millisecond) // the compute's work
								return []byte("value-" + strconv.Itoa(i)), nil
							})
							if !assert.NoError(t, err) {
								return
							}
							assert.Equal(t, "value-"+strconv.Itoa(i), string(v))
						}
					})
				}
			}
			wg.Wait()
			for i := range runs {
				assert.Equal(t, int32(1), runs[i].Load(), "key %d must be computed once", i)
			}
			var computes uint64
			for _, c := range cs {
				computes += c.Stats().Computes
			}
			assert.Equal(t, uint64(keyCount), computes)
		})
	}
}

func TestGetOrComputeErrorReachesWaitersAndCachesNothing(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, newRemote(t, standaloneConfig()))
	k := uniqueKey(t, "fail")
	boom := errors.New("boom")
	release := make(chan struct{})
	var runs atomic.Int32
	compute := func(context.Context) ([]byte, error) {
		runs.Add(1)
		<-release
		return nil, boom
	}

	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := c.GetOrCompute(ctx, k, time.Minute, compute)
			errs <- err
		}()
	}
	require.Eventually(t, func() bool { return runs.Load() == 1 }, 5*time.Second, time.Millisecond)
	close(release)
	for range 8 {
		require.ErrorIs(t, <-errs, boom)
	}
	exists, err := c.Exists(ctx, k)
	require.NoError(t, err)
	assert.False(t, exists, "a failed compute must store nothing")

	v, err := c.GetOrCompute(ctx, k, time.Minute, func(context.Context) ([]byte, error) { return []byte("ok"), nil })
	require.NoError(t, err, "the lock must have been released")
	assert.Equal(t, "ok", string(v))
}

func TestGetOrComputePanicBecomesError(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, newRemote(t, standaloneConfig()))
	_, err := c.GetOrCompute(ctx, uniqueKey(t, "panic"), time.Minute, func(context.Context) ([]byte, error) {
		panic("compute exploded")
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "compute exploded")
}

func TestGetOrComputeCallerCancelKeepsCompute(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, newRemote(t, standaloneConfig()))
	k := uniqueKey(t, "cancel")
	started, release := make(chan struct{}), make(chan struct{})
	compute := func(cctx context.Context) ([]byte, error) {
		close(started)
		<-release
		return []byte("done"), cctx.Err()
	}

	cctx, cancel := context.WithCancel(ctx)
	first := make(chan error, 1)
	go func() {
		_, err := c.GetOrCompute(cctx, k, time.Minute, compute)
		first <- err
	}()
	<-started
	second := make(chan []byte, 1)
	go func() {
		v, err := c.GetOrCompute(ctx, k, time.Minute, compute)
		assert.NoError(t, err)
		second <- v
	}()
	cancel()
	require.ErrorIs(t, <-first, context.Canceled)
	close(release)
	assert.Equal(t, "done", string(<-second), "the other caller still gets the computed value")
}

func TestCloseFailsCallsInFlight(t *testing.T) {
	before := goleak.IgnoreCurrent()
	defer func() {
		// GLIDE keeps a goroutine for a request its caller stopped waiting
		// for until the request times out, so wait for that.
		require.Eventually(t, func() bool { return goleak.Find(before) == nil }, 10*time.Second, 10*time.Millisecond)
	}()
	server, err := valkeytest.Start()
	require.NoError(t, err)
	defer server.Stop()
	cfg := remoteConfig(remote.Standalone, server)
	// Calls blocked on the paused server time out after this; Close comes
	// sooner, and a call that ends after Close began reports kv.ErrClosed
	// whatever its cause.
	cfg.RequestTimeout = 500 * time.Millisecond
	c, err := New(newLocal(t), newRemote(t, cfg))
	require.NoError(t, err)
	ctx := testContext(t)

	// While the server is paused, every call that reaches it stays in flight.
	// CLIENT UNPAUSE would itself wait for the pause to end, so the pause is
	// short instead: long enough for the steps below.
	_, err = server.CLI("CLIENT", "PAUSE", "3000", "ALL")
	require.NoError(t, err)

	errs := make(chan error, 3)
	go func() { _, _, err := c.Get(ctx, []byte("k1")); errs <- err }()
	go func() { _, err := c.MGet(ctx, [][]byte{[]byte("k2"), []byte("k3")}); errs <- err }()
	require.Eventually(t, func() bool { return c.Stats().Fetches == 2 }, 5*time.Second, time.Millisecond,
		"both reads must be in flight")
	go func() { errs <- c.Set(ctx, []byte("k4"), []byte("v"), 0) }()

	// Close may report that the subscription could not be ended cleanly on
	// the paused server; the calls in flight must fail either way.
	_ = c.Close()
	for range 3 {
		require.ErrorIs(t, <-errs, kv.ErrClosed)
	}
	_, _, err = c.Get(ctx, []byte("k1"))
	require.ErrorIs(t, err, kv.ErrClosed)
	_, err = c.GetOrCompute(ctx, []byte("k1"), 0, func(context.Context) ([]byte, error) { return nil, nil })
	require.ErrorIs(t, err, kv.ErrClosed)
	require.Equal(t, c.Close(), c.Close(), "Close is idempotent")
}
