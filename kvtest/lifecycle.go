package kvtest

import (
	"context"
	"iter"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

func testConcurrentIncr(t *testing.T, e *env) {
	const goroutines, perGoroutine = 64, 1000
	k := e.key("counter")
	var wg sync.WaitGroup
	var failures atomic.Int64
	for range goroutines {
		wg.Go(func() {
			for range perGoroutine {
				if _, err := e.c.Incr(ctx(t), k); err != nil {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.Zero(t, failures.Load(), "Incr calls failed")
	requireValue(t, e.c, k, "64000")
}

func testConcurrentSetNX(t *testing.T, e *env) {
	const goroutines, rounds = 64, 20
	for round := range rounds {
		k := e.key("nx:" + string(rune('a'+round)))
		var wg sync.WaitGroup
		var winners atomic.Int64
		var winner atomic.Int64
		start := make(chan struct{})
		for g := range goroutines {
			wg.Go(func() {
				<-start
				set, err := e.c.SetNX(ctx(t), k, []byte{byte(g)}, time.Minute)
				assert.NoError(t, err)
				if set {
					winners.Add(1)
					winner.Store(int64(g))
				}
			})
		}
		close(start)
		wg.Wait()
		require.Equal(t, int64(1), winners.Load(), "round %d: SetNX winners", round)
		requireValue(t, e.c, k, string([]byte{byte(winner.Load())}))
	}
}

func testCanceledContext(t *testing.T, e *env) {
	c, cancel := context.WithCancel(context.Background())
	cancel()
	checkAllMethods(t, e, c, func(t *testing.T, op string, err error) {
		assert.ErrorIs(t, err, context.Canceled, "%s with a cancelled context", op)
	})
}

func testExpiredDeadline(t *testing.T, e *env) {
	c, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	checkAllMethods(t, e, c, func(t *testing.T, op string, err error) {
		assert.ErrorIs(t, err, context.DeadlineExceeded, "%s with an expired deadline", op)
	})
}

func testUseAfterClose(t *testing.T, e *env) {
	k := e.key("k")
	require.NoError(t, e.c.Set(ctx(t), k, []byte("v"), 0))
	require.NoError(t, e.c.Close())
	require.NoError(t, e.c.Close(), "a second Close must succeed")
	checkAllMethods(t, e, ctx(t), func(t *testing.T, op string, err error) {
		assert.ErrorIs(t, err, kv.ErrClosed, "%s after Close", op)
	})
}

// checkAllMethods calls every data method of the client with c and hands
// each error to check. It also checks that each call returned promptly.
func checkAllMethods(t *testing.T, e *env, c context.Context, check func(t *testing.T, op string, err error)) {
	k := e.key("k")
	calls := []struct {
		op   string
		call func() error
	}{
		{"Get", func() error { _, _, err := e.c.Get(c, k); return err }},
		{"Set", func() error { return e.c.Set(c, k, []byte("x"), 0) }},
		{"SetNX", func() error { _, err := e.c.SetNX(c, e.key("nx"), []byte("x"), 0); return err }},
		{"Delete", func() error { _, err := e.c.Delete(c, k); return err }},
		{"Exists", func() error { _, err := e.c.Exists(c, k); return err }},
		{"MGet", func() error { _, err := e.c.MGet(c, [][]byte{k}); return err }},
		{"MSet", func() error { return e.c.MSet(c, []kv.Item{{Key: k, Value: []byte("x")}}, 0) }},
		{"DeleteMany", func() error { _, err := e.c.DeleteMany(c, [][]byte{k}); return err }},
		{"TTL", func() error { _, _, err := e.c.TTL(c, k); return err }},
		{"Expire", func() error { _, err := e.c.Expire(c, k, time.Minute); return err }},
		{"Incr", func() error { _, err := e.c.Incr(c, e.key("n")); return err }},
		{"Scan", func() error { return firstScanErr(e.c.Scan(c, []byte(e.prefix), 0)) }},
	}
	if v, ok := e.c.(kv.Viewer); ok {
		calls = append(calls, struct {
			op   string
			call func() error
		}{"View", func() error { _, _, err := v.View(c, k); return err }})
	}
	for _, tc := range calls {
		start := time.Now()
		err := tc.call()
		check(t, tc.op, err)
		assert.Less(t, time.Since(start), 2*time.Second, "%s did not return promptly", tc.op)
	}
}

func firstScanErr(seq iter.Seq2[[]byte, error]) error {
	for _, err := range seq {
		if err != nil {
			return err
		}
	}
	return nil
}
