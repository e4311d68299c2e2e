package guard

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

// waiting reports whether g has a waiter for key that notices reach and
// that is blocked until a notice or its retry delay.
func waiting(g *Guard, key []byte) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for w := range g.waiters[string(key)] {
		if w.subscribed && w.parked {
			return true
		}
	}
	return false
}

// polling reports whether g has a waiter for key blocked until its retry
// delay, subscribed or not.
func polling(g *Guard, key []byte) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for w := range g.waiters[string(key)] {
		if w.parked {
			return true
		}
	}
	return false
}

// callers returns the number of callers sharing g's flight for key.
func callers(g *Guard, key []byte) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.inputs[string(key)]; f != nil {
		return f.callers
	}
	return 0
}

func lockKeyOf(key []byte) []byte {
	return append([]byte(DefaultLockPrefix), key...)
}

func TestDoComputesOnceAcrossClients(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		const clients, goroutines = 4, 16
		ctx := testContext(t)
		key := uniqueKey(t)
		var runs atomic.Int32
		compute := func(context.Context) ([]byte, error) {
			runs.Add(1)
			time.Sleep(50 * time.Millisecond) // the work callers wait for
			return []byte("value\x00"), nil
		}

		start := make(chan struct{})
		var wg sync.WaitGroup
		values := make(chan []byte, clients*goroutines)
		errs := make(chan error, clients*goroutines)
		for range clients {
			g := newGuard(t, b.connect(t), Options{})
			for range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					v, _, err := g.Do(ctx, key, time.Minute, compute)
					values <- v
					errs <- err
				}()
			}
		}
		close(start)
		wg.Wait()
		close(values)
		close(errs)

		for err := range errs {
			require.NoError(t, err)
		}
		for v := range values {
			assert.Equal(t, []byte("value\x00"), v)
		}
		assert.Equal(t, int32(1), runs.Load(), "compute runs")
	})
}

func TestDoReturnsStoredValue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		g := newGuard(t, c, Options{})
		key := uniqueKey(t)
		require.NoError(t, c.Set(ctx, key, []byte("cached"), time.Minute))

		v, computed, err := g.Do(ctx, key, time.Minute, func(context.Context) ([]byte, error) {
			return nil, errors.New("compute must not run on a hit")
		})
		require.NoError(t, err)
		assert.False(t, computed)
		assert.Equal(t, []byte("cached"), v)
	})
}

func TestDoStoresWithTTL(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		g := newGuard(t, c, Options{})
		key := uniqueKey(t)

		v, computed, err := g.Do(ctx, key, time.Minute, func(context.Context) ([]byte, error) {
			return []byte("fresh"), nil
		})
		require.NoError(t, err)
		assert.True(t, computed)
		assert.Equal(t, []byte("fresh"), v)

		stored, found, err := c.Get(ctx, key)
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, []byte("fresh"), stored)
		ttl, found, err := c.TTL(ctx, key)
		require.NoError(t, err)
		require.True(t, found)
		assert.Greater(t, ttl, 50*time.Second)
		exists, err := c.Exists(ctx, lockKeyOf(key))
		require.NoError(t, err)
		assert.False(t, exists, "lock released")
	})
}

func TestLateOwnerKeepsNewHolderLock(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		g := newGuard(t, c, Options{LockTTL: 100 * time.Millisecond, WaitBudget: 10 * time.Second})
		key := uniqueKey(t)
		lockKey := lockKeyOf(key)

		started := make(chan struct{})
		release := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			_, _, err := g.Do(ctx, key, time.Minute, func(context.Context) ([]byte, error) {
				close(started)
				<-release
				return []byte("late"), nil
			})
			done <- err
		}()
		<-started

		// Wait for the owner's lock to expire while it computes, then let
		// another holder take it.
		require.Eventually(t, func() bool {
			set, err := c.SetNX(ctx, lockKey, []byte("other holder"), time.Minute)
			return err == nil && set
		}, 5*time.Second, 10*time.Millisecond)
		close(release)
		require.NoError(t, <-done)

		holder, found, err := c.Get(ctx, lockKey)
		require.NoError(t, err)
		require.True(t, found, "the late owner deleted the new holder's lock")
		assert.Equal(t, []byte("other holder"), holder)
	})
}

// failingCompute blocks until release is closed and then fails with err, or
// panics with err when panicking is set.
func failingCompute(release <-chan struct{}, runs *atomic.Int32, err error, panicking bool) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) {
		runs.Add(1)
		<-release
		if panicking {
			panic(err)
		}
		return nil, err
	}
}

func TestComputeFailureReachesEveryWaiter(t *testing.T) {
	for _, panicking := range []bool{false, true} {
		name := "error"
		if panicking {
			name = "panic"
		}
		t.Run(name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				testComputeFailure(t, b, panicking)
			})
		})
	}
}

func testComputeFailure(t *testing.T, b backend, panicking bool) {
	ctx := testContext(t)
	key := uniqueKey(t)
	boom := errors.New("boom")
	// A retry delay far above the test's run time shows that the failure
	// reaches the other process's waiters by notice, not by polling.
	opts := Options{LockTTL: 20 * time.Second, RetryDelay: time.Minute}
	owner := newGuard(t, b.connect(t), opts)
	other := newGuard(t, b.connect(t), opts)
	ownerClient := owner.c

	release := make(chan struct{})
	var runs atomic.Int32
	compute := failingCompute(release, &runs, boom, panicking)

	const perGuard = 3
	ownerErrs := make(chan error, perGuard)
	otherErrs := make(chan error, perGuard)
	for range perGuard {
		go func() {
			_, _, err := owner.Do(ctx, key, time.Minute, compute)
			ownerErrs <- err
		}()
	}
	require.Eventually(t, func() bool { return runs.Load() == 1 && callers(owner, key) == perGuard }, 5*time.Second, time.Millisecond)
	for range perGuard {
		go func() {
			_, _, err := other.Do(ctx, key, time.Minute, compute)
			otherErrs <- err
		}()
	}
	require.Eventually(t, func() bool { return waiting(other, key) && callers(other, key) == perGuard }, 5*time.Second, time.Millisecond)
	close(release)

	for range perGuard {
		err := <-ownerErrs
		require.Error(t, err)
		assert.ErrorIs(t, err, boom)
		if panicking {
			var p *PanicError
			require.ErrorAs(t, err, &p)
			assert.Equal(t, boom, p.Value)
			assert.Contains(t, string(p.Stack), "failingCompute", "stack of the panicking goroutine")
		}
	}
	for range perGuard {
		err := <-otherErrs
		require.ErrorIs(t, err, ErrHolderFailed)
		assert.Contains(t, err.Error(), "boom")
	}
	assert.Equal(t, int32(1), runs.Load(), "compute runs")

	_, found, err := ownerClient.Get(ctx, key)
	require.NoError(t, err)
	assert.False(t, found, "a failed compute stored a value")
	exists, err := ownerClient.Exists(ctx, lockKeyOf(key))
	require.NoError(t, err)
	assert.False(t, exists, "lock released after a failed compute")
}

func TestCallerCancelKeepsSharedCompute(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		g := newGuard(t, c, Options{})
		key := uniqueKey(t)

		release := make(chan struct{})
		computeErr := make(chan error, 1)
		started := make(chan struct{})
		compute := func(cctx context.Context) ([]byte, error) {
			close(started)
			<-release
			computeErr <- cctx.Err()
			return []byte("shared"), nil
		}

		firstCtx, cancelFirst := context.WithCancel(ctx)
		first := make(chan error, 1)
		go func() {
			_, _, err := g.Do(firstCtx, key, time.Minute, compute)
			first <- err
		}()
		<-started
		second := make(chan []byte, 1)
		go func() {
			v, _, err := g.Do(ctx, key, time.Minute, compute)
			assert.NoError(t, err)
			second <- v
		}()
		require.Eventually(t, func() bool { return callers(g, key) == 2 }, 5*time.Second, time.Millisecond)

		cancelFirst()
		err := <-first
		require.ErrorIs(t, err, context.Canceled)
		close(release)

		assert.Equal(t, []byte("shared"), <-second)
		assert.NoError(t, <-computeErr, "compute saw a cancelled context")
	})
}

func TestComputeOutlivesEveryCaller(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		g := newGuard(t, c, Options{})
		key := uniqueKey(t)

		started := make(chan struct{})
		release := make(chan struct{})
		callerCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, _, err := g.Do(callerCtx, key, time.Minute, func(context.Context) ([]byte, error) {
				close(started)
				<-release
				return []byte("finished"), nil
			})
			done <- err
		}()
		<-started
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		close(release)

		// Other processes wait on the lock, so the compute still stores.
		require.Eventually(t, func() bool {
			v, found, err := c.Get(ctx, key)
			return err == nil && found && bytes.Equal(v, []byte("finished"))
		}, 5*time.Second, 5*time.Millisecond)
	})
}

func TestNoticeWakesWaiterBeforeRetryDelay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := testContext(t)
		key := uniqueKey(t)
		opts := Options{LockTTL: 20 * time.Second, RetryDelay: time.Minute}
		owner := newGuard(t, b.connect(t), opts)
		waiter := newGuard(t, b.connect(t), opts)

		started := make(chan struct{})
		release := make(chan struct{})
		ownerDone := make(chan error, 1)
		go func() {
			_, _, err := owner.Do(ctx, key, time.Minute, func(context.Context) ([]byte, error) {
				close(started)
				<-release
				return []byte("notified"), nil
			})
			ownerDone <- err
		}()
		<-started

		got := make(chan []byte, 1)
		go func() {
			v, computed, err := waiter.Do(ctx, key, time.Minute, func(context.Context) ([]byte, error) {
				return nil, errors.New("the waiter must not compute")
			})
			assert.NoError(t, err)
			assert.False(t, computed)
			got <- v
		}()
		require.Eventually(t, func() bool { return waiting(waiter, key) }, 5*time.Second, time.Millisecond)
		close(release)
		require.NoError(t, <-ownerDone)

		// Only the owner's notice can end the wait before the one-minute
		// retry delay; the bound below is far from both.
		select {
		case v := <-got:
			assert.Equal(t, []byte("notified"), v)
		case <-time.After(10 * time.Second):
			t.Fatal("the waiter was not woken by the owner's notice")
		}
	})
}

// pollingClient hides the pub/sub methods of a client, leaving only
// kv.Client and kv.Swapper.
type pollingClient struct {
	kv.Client
	kv.Swapper
}

func TestPollingWithoutPubSub(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := testContext(t)
		key := uniqueKey(t)
		opts := Options{RetryDelay: 5 * time.Millisecond}
		ownerClient := b.connect(t)
		owner := newGuard(t, pollingClient{ownerClient, ownerClient.(kv.Swapper)}, opts)
		waiterClient := b.connect(t)
		waiter := newGuard(t, pollingClient{waiterClient, waiterClient.(kv.Swapper)}, opts)
		require.Nil(t, waiter.sub, "notices without pub/sub")

		started := make(chan struct{})
		release := make(chan struct{})
		ownerDone := make(chan error, 1)
		go func() {
			_, _, err := owner.Do(ctx, key, time.Minute, func(context.Context) ([]byte, error) {
				close(started)
				<-release
				return []byte("polled"), nil
			})
			ownerDone <- err
		}()
		<-started
		require.Eventually(t, func() bool {
			exists, err := ownerClient.Exists(ctx, lockKeyOf(key))
			return err == nil && exists
		}, 5*time.Second, time.Millisecond)

		got := make(chan []byte, 1)
		go func() {
			v, computed, err := waiter.Do(ctx, key, time.Minute, func(context.Context) ([]byte, error) {
				return nil, errors.New("the waiter must not compute")
			})
			assert.NoError(t, err)
			assert.False(t, computed)
			got <- v
		}()
		require.Eventually(t, func() bool { return polling(waiter, key) }, 5*time.Second, time.Millisecond)
		close(release)
		require.NoError(t, <-ownerDone)
		assert.Equal(t, []byte("polled"), <-got)
	})
}

func TestWaitBudgetFallsThroughToCompute(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		g := newGuard(t, c, Options{LockTTL: time.Minute, RetryDelay: 10 * time.Millisecond, WaitBudget: 100 * time.Millisecond})
		key := uniqueKey(t)
		// A holder that crashed while its lock still has a minute to live.
		set, err := c.SetNX(ctx, lockKeyOf(key), []byte("crashed holder"), time.Minute)
		require.NoError(t, err)
		require.True(t, set)

		v, computed, err := g.Do(ctx, key, time.Minute, func(context.Context) ([]byte, error) {
			return []byte("computed anyway"), nil
		})
		require.NoError(t, err)
		assert.True(t, computed)
		assert.Equal(t, []byte("computed anyway"), v)
		holder, found, err := c.Get(ctx, lockKeyOf(key))
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, []byte("crashed holder"), holder, "a waiter released a lock it does not own")
	})
}

func TestNewRejectsClientWithoutSwapper(t *testing.T) {
	c := backends[0].connect(t)
	_, err := New(struct{ kv.Client }{c}, Options{})
	require.ErrorIs(t, err, kv.ErrUnsupported)
	assert.Contains(t, err.Error(), "kv.Swapper")
}

func TestNewRejectsNegativeDurations(t *testing.T) {
	c := backends[0].connect(t)
	_, err := New(c, Options{LockTTL: -time.Second})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "negative")
}

func TestDoAfterClose(t *testing.T) {
	c := backends[0].connect(t)
	g, err := New(c, Options{})
	require.NoError(t, err)
	require.NoError(t, g.Close())
	require.NoError(t, g.Close(), "second Close")
	_, _, err = g.Do(context.Background(), []byte("k"), time.Minute, func(context.Context) ([]byte, error) {
		return []byte("v"), nil
	})
	require.ErrorIs(t, err, kv.ErrClosed)
}

func TestCloseEndsWaits(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := testContext(t)
		key := uniqueKey(t)
		opts := Options{LockTTL: 20 * time.Second, RetryDelay: time.Minute}
		owner := newGuard(t, b.connect(t), opts)
		waiter, err := New(b.connect(t), opts)
		require.NoError(t, err)

		started := make(chan struct{})
		release := make(chan struct{})
		ownerDone := make(chan error, 1)
		go func() {
			_, _, err := owner.Do(ctx, key, time.Minute, func(context.Context) ([]byte, error) {
				close(started)
				<-release
				return []byte("v"), nil
			})
			ownerDone <- err
		}()
		<-started
		waiterDone := make(chan error, 1)
		go func() {
			_, _, err := waiter.Do(ctx, key, time.Minute, func(context.Context) ([]byte, error) {
				return nil, errors.New("the waiter must not compute")
			})
			waiterDone <- err
		}()
		require.Eventually(t, func() bool { return waiting(waiter, key) }, 5*time.Second, time.Millisecond)

		require.NoError(t, waiter.Close())
		require.ErrorIs(t, <-waiterDone, context.Canceled, "a wait ended by Close")
		assert.Equal(t, 0, waiter.Active())
		close(release)
		require.NoError(t, <-ownerDone)
	})
}

func TestNoticeRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		kind  byte
		key   []byte
		token []byte
		text  string
	}{
		{name: "stored", kind: noticeStored, key: []byte("k"), token: []byte("0123456789abcdef")},
		{name: "failed", kind: noticeFailed, key: []byte("k\x00\xff"), token: []byte("t"), text: "db down"},
		{name: "empty key", kind: noticeStored, key: []byte{}, token: []byte("t")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, key, token, text, ok := decodeNotice(encodeNotice(tt.kind, tt.key, tt.token, tt.text))
			require.True(t, ok)
			assert.Equal(t, tt.kind, kind)
			assert.Equal(t, tt.key, key)
			assert.Equal(t, tt.token, token)
			assert.Equal(t, tt.text, text)
		})
	}
}

func TestDecodeNoticeRejectsMalformed(t *testing.T) {
	for i, msg := range [][]byte{nil, {'x'}, {noticeStored}, {noticeStored, 5, 'a'}, {noticeFailed, 1, 'a', 200}} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			_, _, _, _, ok := decodeNotice(msg)
			assert.False(t, ok)
		})
	}
}

func FuzzDecodeNotice(f *testing.F) {
	f.Add(encodeNotice(noticeFailed, []byte("k"), []byte("token"), "error"))
	f.Add([]byte{noticeStored, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, msg []byte) {
		kind, key, token, text, ok := decodeNotice(msg)
		if !ok {
			return
		}
		assert.Equal(t, msg, encodeNotice(kind, key, token, text))
	})
}
