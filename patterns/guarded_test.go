package patterns_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/patterns"
)

func TestGuardedGetComputesOnce(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		clients, goroutines := 4, 16
		if !b.shared {
			clients, goroutines = 1, 64
		}
		ctx := testContext(t)
		key := []byte("guarded\x00\xff" + uniqueKey(t))
		var runs atomic.Int32
		compute := func(context.Context) ([]byte, error) {
			runs.Add(1)
			time.Sleep(50 * time.Millisecond) // the work the other callers wait for
			return []byte("computed"), nil
		}

		start := make(chan struct{})
		results := make(chan []byte, clients*goroutines)
		errs := make(chan error, clients*goroutines)
		var wg sync.WaitGroup
		for range clients {
			c := b.connect(t)
			for range goroutines {
				wg.Go(func() {
					<-start
					v, err := patterns.GuardedGet(ctx, c, key, time.Minute, compute)
					results <- v
					errs <- err
				})
			}
		}
		close(start)
		wg.Wait()
		close(results)
		close(errs)

		for err := range errs {
			require.NoError(t, err)
		}
		for v := range results {
			assert.Equal(t, []byte("computed"), v)
		}
		assert.Equal(t, int32(1), runs.Load(), "compute runs")
	})
}

func TestGuardedGetHit(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		key := []byte(uniqueKey(t))
		require.NoError(t, c.Set(ctx, key, []byte("stored"), time.Minute))

		v, err := patterns.GuardedGet(ctx, c, key, time.Minute, func(context.Context) ([]byte, error) {
			return nil, errors.New("compute must not run on a hit")
		})
		require.NoError(t, err)
		assert.Equal(t, []byte("stored"), v)
	})
}

func TestGuardedGetErrorNotCached(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		key := []byte(uniqueKey(t))
		boom := errors.New("database down")

		_, err := patterns.GuardedGet(ctx, c, key, time.Minute, func(context.Context) ([]byte, error) {
			return nil, boom
		})
		require.ErrorIs(t, err, boom)
		_, found, err := c.Get(ctx, key)
		require.NoError(t, err)
		assert.False(t, found, "a failed compute stored a value")
		locked, err := c.Exists(ctx, append([]byte("derp:lock:"), key...))
		require.NoError(t, err)
		assert.False(t, locked, "lock left after a failed compute")

		v, err := patterns.GuardedGet(ctx, c, key, time.Minute, func(context.Context) ([]byte, error) {
			return []byte("recovered"), nil
		})
		require.NoError(t, err)
		assert.Equal(t, []byte("recovered"), v)
	})
}

func TestGuardedGetPanicReachesCallers(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		key := []byte(uniqueKey(t))

		_, err := patterns.GuardedGet(ctx, c, key, time.Minute, func(context.Context) ([]byte, error) {
			panic("compute exploded")
		})
		var p *patterns.PanicError
		require.ErrorAs(t, err, &p)
		assert.Equal(t, "compute exploded", p.Value)
		assert.Contains(t, string(p.Stack), "TestGuardedGetPanicReachesCallers")
	})
}

func TestGuardedGetCallerCancel(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		key := []byte(uniqueKey(t))
		started := make(chan struct{})
		release := make(chan struct{})

		callerCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := patterns.GuardedGet(callerCtx, c, key, time.Minute, func(cctx context.Context) ([]byte, error) {
				close(started)
				<-release
				if cctx.Err() != nil {
					return nil, cctx.Err()
				}
				return []byte("finished"), nil
			})
			done <- err
		}()
		<-started
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		close(release)

		require.Eventually(t, func() bool {
			v, found, err := c.Get(ctx, key)
			return err == nil && found && bytes.Equal(v, []byte("finished"))
		}, 10*time.Second, 5*time.Millisecond, "the compute stopped with its caller")
	})
}

func TestGuardedGetRejectsBadInput(t *testing.T) {
	ctx := testContext(t)
	c := connectLocal(t)
	compute := func(context.Context) ([]byte, error) { return []byte("v"), nil }

	_, err := patterns.GuardedGet(ctx, struct{ kv.Client }{c}, []byte("k"), time.Minute, compute)
	require.ErrorIs(t, err, kv.ErrUnsupported)

	_, err = patterns.GuardedGet(ctx, c, []byte("k"), time.Minute, compute, patterns.WithLockTTL(0))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "lock ttl")

	_, err = patterns.GuardedGet(ctx, c, []byte("k"), -time.Second, compute)
	require.ErrorIs(t, err, kv.ErrInvalidTTL)
}

// uncomparableClient cannot be a map key, so GuardedGet gives each call its
// own Guard rather than sharing one.
type uncomparableClient struct {
	kv.Client
	kv.Swapper
	_ []int
}

func TestGuardedGetUncomparableClient(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		key := []byte(uniqueKey(t))
		client := uncomparableClient{Client: c, Swapper: c.(kv.Swapper)}

		v, err := patterns.GuardedGet(ctx, client, key, time.Minute, func(context.Context) ([]byte, error) {
			return []byte("computed"), nil
		})
		require.NoError(t, err)
		assert.Equal(t, []byte("computed"), v)
		stored, found, err := c.Get(ctx, key)
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, []byte("computed"), stored)
	})
}
