package tiered

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/remote"
)

// stuckPublisher makes every PUBLISH of an invalidation hang until
// its context ends (a publish that times out), as when L2 is slow for this
// process. Heartbeats pass through.
type stuckPublisher struct {
	*remote.Client
	started chan struct{}
	once    sync.Once
}

func (s *stuckPublisher) Publish(ctx context.Context, channel string, message []byte) error {
	if message[0] != msgInvalidate {
		return s.Client.Publish(ctx, channel, message)
	}
	s.once.Do(func() { close(s.started) })
	<-ctx.Done()
	return ctx.Err()
}

// manyKeys is the number of keys each write of these tests changes, so
// that shared publishes carry large messages.
const manyKeys = 512

func newItems(t *testing.T, prefix string, n int, value string) []kv.Item {
	items := make([]kv.Item, n)
	for i := range items {
		items[i] = kv.Item{Key: uniqueKey(t, prefix+strconv.Itoa(i)), Value: []byte(value)}
	}
	return items
}

// TestCloseWaitWithStuckPublishes checks the bound that Client.Close states
// for its wait on writes in flight: the L2 request timeout plus twice the
// publish timeout, however many writes wait for shared publishes that all
// time out.
func TestCloseWaitWithStuckPublishes(t *testing.T) {
	ctx := testContext(t)
	const requestTimeout = 100 * time.Millisecond
	const publishTimeout = 500 * time.Millisecond
	cfg := standaloneConfig()
	cfg.RequestTimeout = requestTimeout
	l2 := &stuckPublisher{Client: newRemote(t, cfg), started: make(chan struct{})}
	a, err := New(newLocal(t), l2, func(o *options) { o.publishTimeout = publishTimeout })
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })

	const writers = 4
	var wg sync.WaitGroup
	durations := make([]time.Duration, writers)
	for w := range writers {
		items := newItems(t, "hol-"+strconv.Itoa(w)+"-", manyKeys, "v")
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_ = a.MSet(ctx, items, 0)
			durations[w] = time.Since(start)
		}()
	}
	<-l2.started
	time.Sleep(10 * time.Millisecond) // let the other writes reach the publisher
	start := time.Now()
	require.NoError(t, a.Close())
	closeTook := time.Since(start)
	wg.Wait()

	bound := requestTimeout + 2*publishTimeout
	var longest time.Duration
	for _, d := range durations {
		longest = max(longest, d)
	}
	t.Logf("Close took %v, longest write %v; documented bound %v", closeTook, longest, bound)
	// The slack covers scheduling on a loaded machine; a queue of shared
	// publishes would add a whole publish timeout per batch.
	const slack = 300 * time.Millisecond
	assert.LessOrEqual(t, closeTook, bound+slack,
		"Close waited longer than the L2 request timeout plus twice the publish timeout")
	assert.LessOrEqual(t, longest, bound+slack,
		"a write waited longer than the L2 request timeout plus twice the publish timeout")
}

// slowWritePublisher delays each invalidation PUBLISH (which still
// succeeds, within the publish timeout) and records when each MSet's L2
// write finished.
type slowWritePublisher struct {
	*remote.Client
	delay time.Duration

	mu      sync.Mutex
	written map[string]time.Time // first key of an MSet -> when L2 had it
}

func (s *slowWritePublisher) Publish(ctx context.Context, channel string, message []byte) error {
	if message[0] == msgInvalidate {
		time.Sleep(s.delay)
	}
	return s.Client.Publish(ctx, channel, message)
}

func (s *slowWritePublisher) MSet(ctx context.Context, items []kv.Item, ttl time.Duration) error {
	err := s.Client.MSet(ctx, items, ttl)
	s.mu.Lock()
	s.written[string(items[len(items)-1].Key)] = time.Now()
	s.mu.Unlock()
	return err
}

// TestSlowPublishesWithinStalenessBound checks StalenessBound, which counts
// from a write's return, when concurrent writes share publishes that each
// take most of the bound. The reader's heartbeats stay on time, so nothing
// but the invalidations keeps its L1 from serving the old value.
func TestSlowPublishesWithinStalenessBound(t *testing.T) {
	ctx := testContext(t)
	l2 := &slowWritePublisher{Client: newRemote(t, standaloneConfig()), delay: 300 * time.Millisecond, written: map[string]time.Time{}}
	a := newClient(t, l2)
	b := newClient(t, newRemote(t, standaloneConfig()), WithHeartbeat(250*time.Millisecond, 3))
	bound := b.StalenessBound() // 1 s

	const writers = 4
	batches := make([][]kv.Item, writers)
	watched := make([][]byte, writers)
	for w := range writers {
		batches[w] = newItems(t, "stale-"+strconv.Itoa(w)+"-", manyKeys, "v1")
		require.NoError(t, a.MSet(ctx, batches[w], 0))
		watched[w] = batches[w][len(batches[w])-1].Key
	}
	for _, k := range watched {
		warmL1(t, b, k, "v1")
	}

	returned := make([]time.Time, writers)
	var wg sync.WaitGroup
	for w := range writers {
		items := make([]kv.Item, len(batches[w]))
		for i, it := range batches[w] {
			items[i] = kv.Item{Key: it.Key, Value: []byte("v2")}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, a.MSet(ctx, items, 0))
			returned[w] = time.Now()
		}()
	}

	seen := make([]time.Time, writers)
	deadline := time.Now().Add(10 * time.Second)
	for remaining := writers; remaining > 0 && time.Now().Before(deadline); {
		for w, k := range watched {
			if seen[w].IsZero() && getOf(t, b, k) == "v2" {
				seen[w] = time.Now()
				remaining--
			}
		}
		time.Sleep(time.Millisecond)
	}
	wg.Wait()

	// A degraded B reads around L1 and so cannot serve the old value, which
	// would make the check below pass without testing the publishes. It
	// happens only when the machine is too loaded to deliver heartbeats.
	if s := b.Stats(); s.SubscriptionLosses > 0 {
		t.Logf("B was degraded %d times; the check below is weaker", s.SubscriptionLosses)
	}
	var worst time.Duration
	for w, k := range watched {
		require.False(t, seen[w].IsZero(), "B never saw v2 for batch %d", w)
		l2.mu.Lock()
		written := l2.written[string(k)]
		l2.mu.Unlock()
		stale := seen[w].Sub(written)
		t.Logf("batch %d: B served v1 for %v after L2 held v2, %v after the write returned",
			w, stale.Round(time.Millisecond), seen[w].Sub(returned[w]).Round(time.Millisecond))
		worst = max(worst, seen[w].Sub(returned[w]))
	}
	assert.LessOrEqual(t, worst, bound,
		"B returned the old value from L1 longer than its StalenessBound (%v), without being degraded", bound)
}
