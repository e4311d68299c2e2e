package local

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/kvtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newClient returns a client closed when the test ends.
func newClient(t *testing.T, opts ...Option) *Client {
	t.Helper()
	c, err := New(opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

func TestConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kv.Client {
		c, err := New()
		require.NoError(t, err)
		return c
	})
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	cases := []struct {
		name string
		opt  Option
		want string
	}{
		{"max cost zero", WithMaxCost(0), "WithMaxCost(0)"},
		{"max cost tiny", WithMaxCost(100), "WithMaxCost(100)"},
		{"max cost negative", WithMaxCost(-1), "WithMaxCost(-1)"},
		{"counters zero", WithNumCounters(0), "WithNumCounters(0)"},
		{"counters negative", WithNumCounters(-5), "WithNumCounters(-5)"},
		{"max ttl negative", WithMaxTTL(-time.Second), "WithMaxTTL(-1s)"},
		{"sweep zero", WithSweepInterval(0), "WithSweepInterval(0s)"},
		{"sweep too short", WithSweepInterval(time.Microsecond), "WithSweepInterval(1µs)"},
		{"nil option", nil, "option is nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.opt)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), "kv: local: new: ")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestNewDefaults(t *testing.T) {
	cfg, err := resolve(nil)
	require.NoError(t, err)
	assert.Equal(t, DefaultMaxCost, cfg.maxCost)
	assert.Equal(t, int64(655360), cfg.numCounters, "10 counters per KiB of a 64 MiB budget")
	assert.Equal(t, time.Duration(0), cfg.maxTTL)
	assert.Equal(t, DefaultSweepInterval, cfg.sweepInterval)

	cfg, err = resolve([]Option{WithMaxCost(minMaxCost)})
	require.NoError(t, err)
	assert.Equal(t, minNumCounters, cfg.numCounters, "tiny budgets get the minimum sketch")

	cfg, err = resolve([]Option{WithMaxTTL(1500 * time.Microsecond)})
	require.NoError(t, err)
	assert.Equal(t, 2*time.Millisecond, cfg.maxTTL, "WithMaxTTL rounds up to a millisecond")

	c := newClient(t)
	assert.Equal(t, kv.Capabilities{TTL: true, Scan: true, Batch: false}, c.Capabilities())
	require.NoError(t, c.Connect(t.Context()))
}

// TestReadYourWrites checks that a Get right after Set or MSet returns the
// value while the cache is under its budget, although ristretto applies
// writes to new keys asynchronously.
func TestReadYourWrites(t *testing.T) {
	c := newClient(t)
	ctx := t.Context()
	misses := 0
	for i := range 10_000 {
		key := []byte(fmt.Sprintf("ryw:%d", i))
		want := []byte(strconv.Itoa(i))
		if i%2 == 0 {
			require.NoError(t, c.Set(ctx, key, want, 0))
		} else {
			require.NoError(t, c.MSet(ctx, []kv.Item{{Key: key, Value: want}}, time.Minute))
		}
		got, found, err := c.Get(ctx, key)
		require.NoError(t, err)
		if !found || string(got) != string(want) {
			misses++
		}
	}
	assert.Zero(t, misses, "Gets that missed a value just written")
	s := c.Stats()
	assert.Zero(t, s.Evictions, "the test must stay under the budget")
	assert.Zero(t, s.Rejections)
}

func TestReadYourWritesConcurrent(t *testing.T) {
	c := newClient(t)
	const goroutines, perGoroutine = 8, 1000
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				key := []byte(fmt.Sprintf("ryw:%d:%d", g, i))
				if err := c.Set(t.Context(), key, key, 0); err != nil {
					errs <- err
					return
				}
				got, found, err := c.Get(t.Context(), key)
				if err != nil || !found || string(got) != string(key) {
					errs <- fmt.Errorf("get %q after set: found=%v value=%q err=%v", key, found, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

func TestScanAfterEvictions(t *testing.T) {
	c := newClient(t, WithMaxCost(64<<10))
	ctx := t.Context()
	const n = 2000
	value := make([]byte, 100)
	for i := range n {
		require.NoError(t, c.Set(ctx, []byte(fmt.Sprintf("ev:%04d", i)), value, 0))
	}
	require.NoError(t, c.Set(ctx, []byte("other"), value, 0))
	require.NotZero(t, c.Stats().Evictions+c.Stats().Rejections, "the budget must have forced evictions")

	live := map[string]bool{}
	for i := range n {
		key := fmt.Sprintf("ev:%04d", i)
		found, err := c.Exists(ctx, []byte(key))
		require.NoError(t, err)
		if found {
			live[key] = true
		}
	}
	require.NotEmpty(t, live)
	require.Less(t, len(live), n)

	seen := map[string]bool{}
	for key, err := range c.Scan(ctx, []byte("ev:"), 0) {
		require.NoError(t, err)
		require.False(t, seen[string(key)], "key %q yielded twice", key)
		seen[string(key)] = true
	}
	assert.Equal(t, live, seen, "Scan must yield exactly the keys that Exists finds")
}

func TestGrowingUpdatesStayInBudget(t *testing.T) {
	const budget = 256 << 10
	c := newClient(t, WithMaxCost(budget))
	ctx := t.Context()
	const n = 500
	for i := range n {
		require.NoError(t, c.Set(ctx, []byte(fmt.Sprintf("g:%d", i)), []byte("x"), 0))
	}
	big := make([]byte, 4096)
	for i := range n {
		require.NoError(t, c.Set(ctx, []byte(fmt.Sprintf("g:%d", i)), big, 0))
		require.LessOrEqual(t, c.Stats().Cost, int64(budget), "after growing entry %d", i)
	}
}

func TestEntryLargerThanBudget(t *testing.T) {
	c := newClient(t, WithMaxCost(64<<10))
	ctx := t.Context()
	key := []byte("huge")
	require.NoError(t, c.Set(ctx, key, make([]byte, 128<<10), 0))
	_, found, err := c.Get(ctx, key)
	require.NoError(t, err)
	assert.False(t, found, "an entry larger than the budget is never stored")
	assert.Equal(t, uint64(1), c.Stats().Rejections)

	// Growing a stored entry past the budget drops it as well.
	require.NoError(t, c.Set(ctx, key, []byte("small"), 0))
	require.NoError(t, c.Set(ctx, key, make([]byte, 128<<10), 0))
	_, found, err = c.Get(ctx, key)
	require.NoError(t, err)
	assert.False(t, found)
	assert.LessOrEqual(t, c.Stats().Cost, int64(64<<10))
}

func TestMaxTTL(t *testing.T) {
	c := newClient(t, WithMaxTTL(time.Second))
	ctx := t.Context()
	for _, ttl := range []time.Duration{0, time.Hour} {
		key := []byte("k" + ttl.String())
		require.NoError(t, c.Set(ctx, key, []byte("v"), ttl))
		left, found, err := c.TTL(ctx, key)
		require.NoError(t, err)
		require.True(t, found)
		assert.Greater(t, left, time.Duration(0), "Set with ttl %v", ttl)
		assert.LessOrEqual(t, left, time.Second, "Set with ttl %v", ttl)
	}

	n, err := c.Incr(ctx, []byte("counter"))
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	left, found, err := c.TTL(ctx, []byte("counter"))
	require.NoError(t, err)
	require.True(t, found)
	assert.LessOrEqual(t, left, time.Second, "a counter created by Incr gets the cap")
}

func TestIncrWithTTL(t *testing.T) {
	c := newClient(t)
	ctx := t.Context()
	key := []byte("window")

	n, left, err := c.IncrWithTTL(ctx, key, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	assert.Equal(t, time.Minute, left, "a new counter gets the whole ttl")

	n, left, err = c.IncrWithTTL(ctx, key, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	assert.LessOrEqual(t, left, time.Minute, "an existing expiry is kept")
	assert.Greater(t, left, 50*time.Second)

	plain := []byte("plain")
	require.NoError(t, c.Set(ctx, plain, []byte("41"), 0))
	n, left, err = c.IncrWithTTL(ctx, plain, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, int64(42), n)
	assert.Equal(t, time.Minute, left, "a key without expiry gets the ttl")

	_, _, err = c.IncrWithTTL(ctx, key, 0)
	assert.ErrorIs(t, err, kv.ErrInvalidTTL)
	require.NoError(t, c.Set(ctx, plain, []byte("x"), 0))
	_, _, err = c.IncrWithTTL(ctx, plain, time.Minute)
	assert.ErrorIs(t, err, kv.ErrNotInteger)
	_, found, err := c.TTL(ctx, plain)
	require.NoError(t, err)
	assert.True(t, found)
}

func TestIncrWithTTLConcurrent(t *testing.T) {
	c := newClient(t)
	const goroutines, perGoroutine = 16, 200
	key := []byte("rate")
	var wg sync.WaitGroup
	counts := make(chan int64, goroutines*perGoroutine)
	for range goroutines {
		wg.Go(func() {
			for range perGoroutine {
				n, left, err := c.IncrWithTTL(t.Context(), key, time.Minute)
				assert.NoError(t, err)
				assert.LessOrEqual(t, left, time.Minute)
				counts <- n
			}
		})
	}
	wg.Wait()
	close(counts)
	seen := make(map[int64]bool)
	for n := range counts {
		assert.False(t, seen[n], "count %d returned twice", n)
		seen[n] = true
	}
	assert.Len(t, seen, goroutines*perGoroutine)
	got, found, err := c.Get(t.Context(), key)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, strconv.Itoa(goroutines*perGoroutine), string(got))
}

func TestIncrOverflowKeepsValue(t *testing.T) {
	c := newClient(t)
	ctx := t.Context()
	key := []byte("max")
	maxValue := strconv.FormatInt(math.MaxInt64, 10)
	require.NoError(t, c.Set(ctx, key, []byte(maxValue), time.Minute))
	_, err := c.Incr(ctx, key)
	require.ErrorIs(t, err, kv.ErrNotInteger)
	assert.Contains(t, err.Error(), "kv: local: incr: ")
	got, _, err := c.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, maxValue, string(got))
	left, _, err := c.TTL(ctx, key)
	require.NoError(t, err)
	assert.Greater(t, left, time.Duration(0), "a failed Incr keeps the expiry")

	minKey := []byte("min")
	require.NoError(t, c.Set(ctx, minKey, []byte(strconv.FormatInt(math.MinInt64, 10)), 0))
	n, err := c.Incr(ctx, minKey)
	require.NoError(t, err)
	assert.Equal(t, int64(math.MinInt64+1), n)
}

func TestCompareAndSwap(t *testing.T) {
	c := newClient(t)
	ctx := t.Context()
	key := []byte("lock")

	ok, err := c.CompareAndSwap(ctx, key, []byte("a"), []byte("b"), 0)
	require.NoError(t, err)
	assert.False(t, ok, "a missing key does not hold a")

	ok, err = c.CompareAndSwap(ctx, key, nil, []byte("owner-1"), time.Minute)
	require.NoError(t, err)
	assert.True(t, ok, "nil old swaps a missing key")
	left, _, err := c.TTL(ctx, key)
	require.NoError(t, err)
	assert.LessOrEqual(t, left, time.Minute)

	ok, err = c.CompareAndSwap(ctx, key, nil, []byte("owner-2"), 0)
	require.NoError(t, err)
	assert.False(t, ok, "nil old does not swap an existing key")

	ok, err = c.CompareAndSwap(ctx, key, []byte("owner-2"), []byte("x"), 0)
	require.NoError(t, err)
	assert.False(t, ok, "a different value does not swap")

	ok, err = c.CompareAndSwap(ctx, key, []byte("owner-1"), []byte("owner-2"), 0)
	require.NoError(t, err)
	assert.True(t, ok)
	got, _, err := c.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "owner-2", string(got))
	left, _, err = c.TTL(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, kv.NoExpiry, left, "ttl 0 clears the expiry")

	_, err = c.CompareAndSwap(ctx, key, nil, []byte("v"), -time.Second)
	assert.ErrorIs(t, err, kv.ErrInvalidTTL)

	ok, err = c.CompareAndDelete(ctx, key, []byte("owner-1"))
	require.NoError(t, err)
	assert.False(t, ok, "a different value is not deleted")
	ok, err = c.CompareAndDelete(ctx, key, []byte("owner-2"))
	require.NoError(t, err)
	assert.True(t, ok)
	found, err := c.Exists(ctx, key)
	require.NoError(t, err)
	assert.False(t, found)
	ok, err = c.CompareAndDelete(ctx, key, []byte("owner-2"))
	require.NoError(t, err)
	assert.False(t, ok, "a missing key is not deleted")
}

// TestCompareAndSwapConcurrent increments a counter with a read and a
// CompareAndSwap loop; lost updates would leave it short.
func TestCompareAndSwapConcurrent(t *testing.T) {
	c := newClient(t)
	const goroutines, perGoroutine = 8, 200
	key := []byte("cas")
	require.NoError(t, c.Set(t.Context(), key, []byte("0"), 0))
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range perGoroutine {
				for {
					old, _, err := c.Get(t.Context(), key)
					if !assert.NoError(t, err) {
						return
					}
					n, _ := strconv.Atoi(string(old))
					ok, err := c.CompareAndSwap(t.Context(), key, old, []byte(strconv.Itoa(n+1)), 0)
					if !assert.NoError(t, err) || ok {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	got, _, err := c.Get(t.Context(), key)
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(goroutines*perGoroutine), string(got))
}

func TestErrorsNamePackageAndOperation(t *testing.T) {
	c := newClient(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	_, _, err := c.Get(canceled, []byte("k"))
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "kv: local: get: context canceled", err.Error())

	err = c.Set(t.Context(), []byte("k"), nil, -time.Second)
	require.ErrorIs(t, err, kv.ErrInvalidTTL)
	assert.Contains(t, err.Error(), "kv: local: set: ")

	err = c.MSet(canceled, []kv.Item{{Key: []byte("k")}}, 0)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "kv: local: mset: context canceled", err.Error())

	require.NoError(t, c.Close())
	_, err = c.Incr(t.Context(), []byte("k"))
	require.ErrorIs(t, err, kv.ErrClosed)
	assert.Equal(t, "kv: local: incr: kv: client is closed", err.Error())
	_, _, err = c.IncrWithTTL(t.Context(), []byte("k"), time.Second)
	assert.ErrorIs(t, err, kv.ErrClosed)
	_, err = c.CompareAndSwap(t.Context(), []byte("k"), nil, nil, 0)
	assert.ErrorIs(t, err, kv.ErrClosed)
	_, err = c.CompareAndDelete(t.Context(), []byte("k"), nil)
	assert.ErrorIs(t, err, kv.ErrClosed)
	assert.ErrorIs(t, c.Connect(t.Context()), kv.ErrClosed)
	assert.Zero(t, c.Stats().Cost)
}

// TestCloseDuringCalls closes the client while other goroutines call it:
// every call returns nil or kv.ErrClosed, and nothing panics (ristretto
// panics when used during its own Close).
func TestCloseDuringCalls(t *testing.T) {
	c, err := New()
	require.NoError(t, err)
	const goroutines = 8
	started := make(chan struct{}, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			key := []byte(fmt.Sprintf("k%d", g))
			for i := 0; ; i++ {
				var err error
				switch i % 4 {
				case 0:
					err = c.Set(t.Context(), key, key, 0)
				case 1:
					_, _, err = c.Get(t.Context(), key)
				case 2:
					_, err = c.Incr(t.Context(), []byte("n"))
				case 3:
					_, err = c.Delete(t.Context(), key)
				}
				if i == 100 {
					started <- struct{}{}
				}
				if err != nil {
					assert.ErrorIs(t, err, kv.ErrClosed)
					return
				}
			}
		})
	}
	for range goroutines {
		<-started
	}
	var closers sync.WaitGroup
	for range 3 {
		closers.Go(func() { assert.NoError(t, c.Close()) })
	}
	closers.Wait()
	wg.Wait()
}

func TestStatsCountsHitsAndMisses(t *testing.T) {
	c := newClient(t)
	ctx := t.Context()
	require.NoError(t, c.Set(ctx, []byte("a"), []byte("1"), 0))
	_, _, err := c.Get(ctx, []byte("a"))
	require.NoError(t, err)
	_, _, err = c.Get(ctx, []byte("b"))
	require.NoError(t, err)
	_, err = c.MGet(ctx, [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	require.NoError(t, err)

	s := c.Stats()
	assert.Equal(t, uint64(2), s.Hits)
	assert.Equal(t, uint64(3), s.Misses)
	assert.Equal(t, DefaultMaxCost, s.MaxCost)
	assert.Positive(t, s.Cost)
}

func TestParseCounter(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"7", 7, true},
		{"-7", -7, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"-9223372036854775808", math.MinInt64, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{"-0", 0, false},
		{"+1", 0, false},
		{"01", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1.0", 0, false},
		{"1e3", 0, false},
		{"0x10", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseCounter([]byte(tc.in))
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

// FuzzParseCounter checks parseCounter against its definition: Valkey
// accepts exactly the strings that are the canonical decimal form of an
// int64.
func FuzzParseCounter(f *testing.F) {
	for _, s := range []string{"0", "-1", "12", "01", "+1", "-0", "9223372036854775807", "-9223372036854775808", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseCounter([]byte(s))
		want, err := strconv.ParseInt(s, 10, 64)
		wantOK := err == nil && strconv.FormatInt(want, 10) == s
		require.Equal(t, wantOK, ok, "accepts %q", s)
		if ok {
			require.Equal(t, want, got, "value of %q", s)
		}
	})
}

func TestNoAliasingOfStoredEntries(t *testing.T) {
	c := newClient(t)
	ctx := t.Context()
	key := []byte("alias")
	value := []byte("value")
	require.NoError(t, c.Set(ctx, key, value, 0))
	key[0], value[0] = 'X', 'X'

	got, found, err := c.Get(ctx, []byte("alias"))
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, "value", string(got))
	got[0] = 'Y'
	again, _, err := c.Get(ctx, []byte("alias"))
	require.NoError(t, err)
	assert.Equal(t, "value", string(again))

	for k, err := range c.Scan(ctx, []byte("ali"), 0) {
		require.NoError(t, err)
		k[0] = 'Z'
	}
	keys := 0
	for k, err := range c.Scan(ctx, []byte("ali"), 0) {
		require.NoError(t, err)
		assert.Equal(t, "alias", string(k))
		keys++
	}
	assert.Equal(t, 1, keys)
}

func TestScanAfterCloseInLoop(t *testing.T) {
	c := newClient(t)
	ctx := t.Context()
	for i := range 3 {
		require.NoError(t, c.Set(ctx, []byte(fmt.Sprintf("s%d", i)), nil, 0))
	}
	var errs []error
	keys := 0
	for _, err := range c.Scan(ctx, []byte("s"), 0) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keys++
		require.NoError(t, c.Close(), "calling the client inside the loop must not deadlock")
	}
	assert.Equal(t, 1, keys)
	require.Len(t, errs, 1)
	assert.True(t, errors.Is(errs[0], kv.ErrClosed))
}

// TestMixedLoadUnderEviction runs writers, deleters, counters and scanners
// at once on a small budget with a fast sweeper, so that evictions,
// rejections, regrown entries and sweeps all race with each other.
func TestMixedLoadUnderEviction(t *testing.T) {
	const budget = 128 << 10
	c := newClient(t, WithMaxCost(budget), WithSweepInterval(time.Millisecond))
	const workers, iterations = 4, 1500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range iterations {
				key := []byte(fmt.Sprintf("mix:%d", (i*7+w)%300))
				var err error
				switch i % 5 {
				case 0, 1:
					err = c.Set(t.Context(), key, make([]byte, (i*13)%2000), time.Duration(i%3)*time.Millisecond)
				case 2:
					_, err = c.Delete(t.Context(), key)
				case 3:
					_, err = c.Incr(t.Context(), []byte(fmt.Sprintf("mix:n%d", i%10)))
				case 4:
					_, _, err = c.Get(t.Context(), key)
				}
				if !assert.NoError(t, err) {
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			seen := map[string]bool{}
			for key, err := range c.Scan(t.Context(), []byte("mix:"), 0) {
				if !assert.NoError(t, err) {
					return
				}
				assert.True(t, strings.HasPrefix(string(key), "mix:"), "key %q", key)
				assert.False(t, seen[string(key)], "key %q yielded twice", key)
				seen[string(key)] = true
			}
		}
	})
	wg.Wait()
	assert.LessOrEqual(t, c.Stats().Cost, int64(budget))
}

// TestHashCollision stores keys whose hashes all collide, so ristretto stores
// them in one slot. A lookup must then miss rather than return another key's value,
// and a write or delete of one key must not act on the other.
func TestHashCollision(t *testing.T) {
	collide := func(cfg *config) error {
		cfg.keyHash = func([]byte) uint64 { return 42 }
		return nil
	}
	c, err := New(collide)
	require.NoError(t, err)
	defer c.Close()
	ctx := t.Context()
	a, b := []byte("collide:a"), []byte("collide:b")

	require.NoError(t, c.Set(ctx, a, []byte("A"), 0))
	require.NoError(t, c.Set(ctx, b, []byte("B"), 0))
	got, found, err := c.Get(ctx, b)
	require.NoError(t, err)
	require.True(t, found, "the last write of the shared slot must be readable")
	assert.Equal(t, "B", string(got))

	_, found, err = c.Get(ctx, a)
	require.NoError(t, err)
	assert.False(t, found, "a must miss, not return b's value")
	values, err := c.MGet(ctx, [][]byte{a, b})
	require.NoError(t, err)
	assert.Nil(t, values[0], "MGet of a")
	assert.Equal(t, "B", string(values[1]), "MGet of b")

	deleted, err := c.Delete(ctx, a)
	require.NoError(t, err)
	assert.False(t, deleted, "deleting a must not report b's entry")
	exists, err := c.Exists(ctx, b)
	require.NoError(t, err)
	assert.True(t, exists, "deleting a must leave b")

	n, err := c.Incr(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "Incr of a must start from zero, not from b's value")
}
