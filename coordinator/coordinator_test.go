package coordinator

import (
	"context"
	"errors"
	"fmt"
	"os"
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
	"github.com/derp-kv/kv/remote"
)

var server *valkeytest.Server

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(serverMain{m})
}

type serverMain struct{ m *testing.M }

func (s serverMain) Run() int {
	var err error
	server, err = valkeytest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer server.Stop()
	return s.m.Run()
}

// gatedL2 is an L2 read whose calls block until the test releases them, so
// that a test can act while a read is in flight. It returns
// "v:" + key and records what it was asked.
type gatedL2 struct {
	release chan struct{}
	calls   atomic.Int32
	mu      sync.Mutex
	batches [][]string
}

func newGatedL2() *gatedL2 { return &gatedL2{release: make(chan struct{})} }

func (g *gatedL2) fetch(ctx context.Context, keys [][]byte) ([]Entry, error) {
	g.calls.Add(1)
	batch := make([]string, len(keys))
	for i, k := range keys {
		batch[i] = string(k)
	}
	g.mu.Lock()
	g.batches = append(g.batches, batch)
	g.mu.Unlock()
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out := make([]Entry, len(keys))
	for i, k := range keys {
		out[i] = Entry{Value: []byte("v:" + string(k)), Found: true, TTL: kv.NoExpiry}
	}
	return out, nil
}

// l1 records the fills and drops the coordinator makes.
type l1 struct {
	mu      sync.Mutex
	entries map[string]string
	fills   int
	drops   int
}

func (l *l1) fill(key []byte, e Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries[string(key)] = string(e.Value)
	l.fills++
}

func (l *l1) drop(key []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, string(key))
	l.drops++
}

func (l *l1) get(key string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.entries[key]
	return v, ok
}

func newCoordinator(t *testing.T, fetch FetchFunc, cfg Config) (*Coordinator, *l1) {
	t.Helper()
	cache := &l1{entries: map[string]string{}}
	cfg.Fetch, cfg.Fill, cfg.Drop = fetch, cache.fill, cache.drop
	c, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c, cache
}

type loadResult struct {
	entry Entry
	err   error
}

func loadAsync(ctx context.Context, c *Coordinator, key string) chan loadResult {
	out := make(chan loadResult, 1)
	go func() {
		e, err := c.Load(ctx, []byte(key))
		out <- loadResult{e, err}
	}()
	return out
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	noop := func(context.Context, [][]byte) ([]Entry, error) { return nil, nil }
	fill := func([]byte, Entry) {}
	drop := func([]byte) {}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"missing fetch", Config{Fill: fill, Drop: drop}},
		{"negative workers", Config{Fetch: noop, Fill: fill, Drop: drop, Workers: -1}},
		{"negative queue", Config{Fetch: noop, Fill: fill, Drop: drop, QueueSize: -1}},
		{"negative timeout", Config{Fetch: noop, Fill: fill, Drop: drop, FetchTimeout: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "kv: coordinator: new:")
		})
	}
}

func TestConcurrentLoadsShareOneFetch(t *testing.T) {
	ctx := context.Background()
	l2 := newGatedL2()
	c, cache := newCoordinator(t, l2.fetch, Config{})
	var results []chan loadResult
	for range 50 {
		results = append(results, loadAsync(ctx, c, "k"))
	}
	require.Eventually(t, func() bool { return c.Stats().Loads == 50 }, 5*time.Second, time.Millisecond)
	close(l2.release)

	var values [][]byte
	for _, r := range results {
		got := <-r
		require.NoError(t, got.err)
		assert.Equal(t, "v:k", string(got.entry.Value))
		values = append(values, got.entry.Value)
	}
	values[0][0] = 'X'
	assert.Equal(t, "v:k", string(values[1]), "each caller owns its slice")
	assert.Equal(t, int32(1), l2.calls.Load())
	assert.Equal(t, uint64(49), c.Stats().Shared)
	v, ok := cache.get("k")
	assert.True(t, ok)
	assert.Equal(t, "v:k", v)
}

func TestWaitingMissesShareOneBatch(t *testing.T) {
	ctx := context.Background()
	l2 := newGatedL2()
	c, _ := newCoordinator(t, l2.fetch, Config{Workers: 1, MaxFetches: 1})
	first := loadAsync(ctx, c, "first")
	require.Eventually(t, func() bool { return l2.calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	var rest []chan loadResult
	for i := range 20 {
		rest = append(rest, loadAsync(ctx, c, "k"+strconv.Itoa(i)))
	}
	require.Eventually(t, func() bool { return c.Stats().Loads == 21 }, 5*time.Second, time.Millisecond)
	close(l2.release)

	require.NoError(t, (<-first).err)
	for i, r := range rest {
		got := <-r
		require.NoError(t, got.err)
		assert.Equal(t, "v:k"+strconv.Itoa(i), string(got.entry.Value))
	}
	assert.Equal(t, int32(2), l2.calls.Load(), "the 20 misses must share the second fetch")
	assert.Len(t, l2.batches[1], 20)
}

func TestUnbatchedFetchesEachMissAlone(t *testing.T) {
	ctx := context.Background()
	l2 := newGatedL2()
	close(l2.release)
	c, _ := newCoordinator(t, l2.fetch, Config{MaxBatch: 1})
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			_, err := c.Load(ctx, []byte("k"+strconv.Itoa(i)))
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	for _, b := range l2.batches {
		assert.Len(t, b, 1)
	}
	assert.Equal(t, int32(30), l2.calls.Load())
}

func TestInvalidationOvertakingAFetchPreventsTheFill(t *testing.T) {
	ctx := context.Background()
	l2 := newGatedL2()
	c, cache := newCoordinator(t, l2.fetch, Config{MaxFetches: 2})
	before := loadAsync(ctx, c, "k")
	require.Eventually(t, func() bool { return l2.calls.Load() == 1 }, 5*time.Second, time.Millisecond)

	require.NoError(t, c.Invalidate([][]byte{[]byte("k")}))
	// A load that starts after the invalidation must not join the read
	// that may have seen the old value.
	after := loadAsync(ctx, c, "k")
	require.Eventually(t, func() bool { return l2.calls.Load() == 2 }, 5*time.Second, time.Millisecond)
	close(l2.release)

	require.NoError(t, (<-before).err)
	require.NoError(t, (<-after).err)
	s := c.Stats()
	assert.Equal(t, uint64(1), s.StaleFills, "the overtaken read must not fill")
	assert.Equal(t, uint64(1), s.Fills, "the read after the invalidation fills")
	assert.Zero(t, s.Shared)
	assert.Equal(t, 1, cache.drops)
}

func TestResetDisownsReadsInFlight(t *testing.T) {
	ctx := context.Background()
	l2 := newGatedL2()
	c, cache := newCoordinator(t, l2.fetch, Config{Workers: 1, MaxFetches: 1})
	var loads []chan loadResult
	for i := range 10 {
		loads = append(loads, loadAsync(ctx, c, "k"+strconv.Itoa(i)))
		if i == 0 {
			require.Eventually(t, func() bool { return l2.calls.Load() == 1 }, 5*time.Second, time.Millisecond)
		}
	}
	// k0 is in flight; the other nine wait unsent, so they will read L2
	// after the reset and may fill.
	require.Eventually(t, func() bool { return c.Stats().Loads == 10 }, 5*time.Second, time.Millisecond)
	require.NoError(t, c.Reset())
	close(l2.release)
	for _, r := range loads {
		require.NoError(t, (<-r).err)
	}
	assert.Equal(t, uint64(1), c.Stats().StaleFills)
	_, ok := cache.get("k0")
	assert.False(t, ok, "the read in flight during the reset must not fill")
	_, ok = cache.get("k9")
	assert.True(t, ok)
}

func TestFullQueueWaitsUnderCallerContext(t *testing.T) {
	ctx := context.Background()
	l2 := newGatedL2()
	c, _ := newCoordinator(t, l2.fetch, Config{Workers: 1, QueueSize: 1, MaxBatch: 1, MaxFetches: 1})
	a := loadAsync(ctx, c, "a") // in flight
	require.Eventually(t, func() bool { return l2.calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	b := loadAsync(ctx, c, "b") // held by the worker
	require.Eventually(t, func() bool { return c.Stats().Loads == 2 }, 5*time.Second, time.Millisecond)
	cq := loadAsync(ctx, c, "c") // fills the queue

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := c.Load(short, []byte("d"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, uint64(2), c.Stats().Loads, "the worker must not take misses beyond its bound")

	close(l2.release)
	for _, r := range []chan loadResult{a, b, cq} {
		require.NoError(t, (<-r).err)
	}
}

func TestCancelledCallerDoesNotFailTheSharedRead(t *testing.T) {
	ctx := context.Background()
	l2 := newGatedL2()
	c, _ := newCoordinator(t, l2.fetch, Config{})
	cctx, cancel := context.WithCancel(ctx)
	gone := loadAsync(cctx, c, "k")
	stays := loadAsync(ctx, c, "k")
	require.Eventually(t, func() bool { return c.Stats().Loads == 2 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, (<-gone).err, context.Canceled)
	close(l2.release)
	got := <-stays
	require.NoError(t, got.err)
	assert.Equal(t, "v:k", string(got.entry.Value))
}

func TestLoadManyFetchesMissesInOneCall(t *testing.T) {
	ctx := context.Background()
	l2 := newGatedL2()
	close(l2.release)
	c, cache := newCoordinator(t, l2.fetch, Config{Workers: 4})
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("a"), []byte("d")}
	entries, err := c.LoadMany(ctx, keys)
	require.NoError(t, err)
	require.Len(t, entries, len(keys))
	for i, e := range entries {
		assert.Equal(t, "v:"+string(keys[i]), string(e.Value))
	}
	assert.Equal(t, int32(1), l2.calls.Load())
	assert.Len(t, l2.batches[0], 4, "the repeated key joins the first read")
	v, ok := cache.get("d")
	assert.True(t, ok)
	assert.Equal(t, "v:d", v)

	entries, err = c.LoadMany(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func TestFetchErrorReachesEveryCaller(t *testing.T) {
	boom := errors.New("boom")
	c, cache := newCoordinator(t, func(context.Context, [][]byte) ([]Entry, error) { return nil, boom }, Config{})
	_, err := c.Load(context.Background(), []byte("k"))
	require.ErrorIs(t, err, boom)
	_, err = c.LoadMany(context.Background(), [][]byte{[]byte("k"), []byte("j")})
	require.ErrorIs(t, err, boom)
	assert.Zero(t, cache.fills)
	assert.Equal(t, uint64(2), c.Stats().FetchErrors)
}

func TestCloseFailsWaitingCallers(t *testing.T) {
	ctx := context.Background()
	l2 := newGatedL2()
	cache := &l1{entries: map[string]string{}}
	c, err := New(Config{Fetch: l2.fetch, Fill: cache.fill, Drop: cache.drop})
	require.NoError(t, err)
	load := loadAsync(ctx, c, "k")
	many := make(chan error, 1)
	go func() { _, err := c.LoadMany(ctx, [][]byte{[]byte("x"), []byte("y")}); many <- err }()
	require.Eventually(t, func() bool { return l2.calls.Load() == 2 }, 5*time.Second, time.Millisecond)

	c.Close() // cancels the gated fetches and waits for them
	require.ErrorIs(t, (<-load).err, kv.ErrClosed)
	require.ErrorIs(t, <-many, kv.ErrClosed)
	_, err = c.Load(ctx, []byte("k"))
	require.ErrorIs(t, err, kv.ErrClosed)
	require.ErrorIs(t, c.Invalidate([][]byte{[]byte("k")}), kv.ErrClosed)
	c.Close()
}

// TestLoadFromValkey runs the coordinator over a real L2 read: MGET and
// PTTL on a Valkey server.
func TestLoadFromValkey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := remote.New(remote.Config{Addresses: []remote.Address{{Host: server.Host, Port: server.Port}}})
	require.NoError(t, err)
	defer r.Close()
	require.NoError(t, r.Connect(ctx))
	require.NoError(t, r.Set(ctx, []byte("coordinator:a"), []byte("1"), time.Minute))

	fetch := func(ctx context.Context, keys [][]byte) ([]Entry, error) {
		values, err := r.MGet(ctx, keys)
		if err != nil {
			return nil, err
		}
		out := make([]Entry, len(keys))
		for i, v := range values {
			out[i] = Entry{Value: v, Found: v != nil}
			if v != nil {
				if out[i].TTL, _, err = r.TTL(ctx, keys[i]); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	}
	c, cache := newCoordinator(t, fetch, Config{})
	entries, err := c.LoadMany(ctx, [][]byte{[]byte("coordinator:a"), []byte("coordinator:missing")})
	require.NoError(t, err)
	assert.Equal(t, "1", string(entries[0].Value))
	assert.Greater(t, entries[0].TTL, 50*time.Second)
	assert.LessOrEqual(t, entries[0].TTL, time.Minute)
	assert.False(t, entries[1].Found)
	v, ok := cache.get("coordinator:a")
	assert.True(t, ok)
	assert.Equal(t, "1", v)
}
