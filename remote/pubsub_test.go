package remote_test

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv/remote"
)

// collector records the payloads a handler receives.
type collector struct {
	mu   sync.Mutex
	got  map[string]int
	seen atomic.Int64
}

func newCollector() *collector { return &collector{got: map[string]int{}} }

func (c *collector) handle(m []byte) {
	c.mu.Lock()
	c.got[string(m)]++
	c.mu.Unlock()
	c.seen.Add(1)
}

func (c *collector) count(m string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[m]
}

func TestPubSub(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := testContext(t)
			publisher := newClient(t, mode.config())
			c := newClient(t, mode.config())
			channel := uniqueKey(t, "ch") + "\x00\xff"

			first, second := newCollector(), newCollector()
			sub1, err := c.Subscribe(ctx, channel, first.handle)
			require.NoError(t, err)
			sub2, err := c.Subscribe(ctx, channel, second.handle)
			require.NoError(t, err)
			assert.Equal(t, int64(1), subscribers(t, publisher, channel), "one connection for both handlers")

			payload := "\x00\xff\xfe binary \xc3("
			require.NoError(t, publisher.Publish(ctx, channel, []byte(payload)))
			require.Eventually(t, func() bool { return first.count(payload) == 1 && second.count(payload) == 1 },
				5*time.Second, time.Millisecond, "both handlers get the binary payload")

			// After Close, no call of the first handler starts, while the
			// second still receives every message.
			require.NoError(t, sub1.Close())
			require.NoError(t, sub1.Close(), "Close is idempotent")
			before := first.seen.Load()
			const n = 50
			for range n {
				require.NoError(t, publisher.Publish(ctx, channel, []byte("after")))
			}
			require.Eventually(t, func() bool { return second.count("after") == n },
				5*time.Second, time.Millisecond)
			assert.Equal(t, before, first.seen.Load(), "a closed subscription got messages")

			require.NoError(t, sub2.Close())
			require.Eventually(t, func() bool { return subscribers(t, publisher, channel) == 0 },
				5*time.Second, 10*time.Millisecond, "the last Close unsubscribes")
		})
	}
}

// subscribers returns the number of connections subscribed to channel,
// queried through GLIDE because valkey-cli cannot pass a NUL in an argument.
// In Cluster mode GLIDE queries every node and adds the counts up.
func subscribers(t *testing.T, c *remote.Client, channel string) int64 {
	var counts map[string]int64
	var err error
	if c.Cluster() != nil {
		counts, err = c.Cluster().PubSubNumSub(testContext(t), channel)
	} else {
		counts, err = c.Standalone().PubSubNumSub(testContext(t), channel)
	}
	require.NoError(t, err)
	return counts[channel]
}

func TestPubSubClientClose(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := testContext(t)
			publisher := newClient(t, mode.config())
			c, err := remote.New(mode.config())
			require.NoError(t, err)
			channel := uniqueKey(t, "ch")
			got := newCollector()
			require.Zero(t, subscribers(t, publisher, channel))
			sub, err := c.Subscribe(ctx, channel, got.handle)
			require.NoError(t, err)
			require.NoError(t, publisher.Publish(ctx, channel, []byte("m")))
			require.Eventually(t, func() bool { return got.count("m") == 1 }, 5*time.Second, time.Millisecond)

			require.NoError(t, c.Close())
			require.NoError(t, sub.Close(), "closing a subscription after its client is fine")
			require.Eventually(t, func() bool { return subscribers(t, publisher, channel) == 0 },
				5*time.Second, 10*time.Millisecond, "Close ends the subscription connection")
		})
	}
}

func TestSubscribeNilHandlerPanics(t *testing.T) {
	c := newClient(t, standaloneConfig())
	assert.Panics(t, func() { _, _ = c.Subscribe(testContext(t), "ch", nil) })
}

func TestSubscribeEndedContext(t *testing.T) {
	c := newClient(t, standaloneConfig())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Subscribe(ctx, uniqueKey(t, "ch"), func([]byte) {})
	require.ErrorIs(t, err, context.Canceled)

	// A subscription whose confirmation the context cuts short leaves the
	// channel unsubscribed.
	channel := uniqueKey(t, "short")
	ctx, cancel = context.WithTimeout(context.Background(), time.Microsecond)
	defer cancel()
	_, err = c.Subscribe(ctx, channel, func([]byte) {})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	publisher := newClient(t, standaloneConfig())
	require.Eventually(t, func() bool { return subscribers(t, publisher, channel) == 0 },
		5*time.Second, 10*time.Millisecond)
}

// TestClusterPublishesGoThroughOneNode pins down a GLIDE behaviour that the
// tiered client's heartbeats rely on. Valkey keeps the order of the
// messages that enter the cluster at one node, but not across nodes. So a
// heartbeat proves that earlier invalidations arrived only if a client
// sends every PUBLISH through the same node, as GLIDE v2.5.3 does.
func TestClusterPublishesGoThroughOneNode(t *testing.T) {
	c, err := remote.New(clusterConfig())
	require.NoError(t, err)
	defer c.Close()
	for _, n := range clusterServers.Nodes {
		_, err := n.CLI("CONFIG", "RESETSTAT")
		require.NoError(t, err)
	}
	const publishes = 60
	for range publishes {
		require.NoError(t, c.Publish(testContext(t), "kv:test:route", []byte("x")))
	}

	calls := regexp.MustCompile(`cmdstat_publish:calls=(\d+)`)
	var nodes []string
	for _, n := range clusterServers.Nodes {
		out, err := n.CLI("INFO", "commandstats")
		require.NoError(t, err)
		if m := calls.FindStringSubmatch(out); m != nil {
			nodes = append(nodes, fmt.Sprintf("port %d: %s", n.Port, m[1]))
		}
	}
	assert.Len(t, nodes, 1, "PUBLISH calls per node: %v", nodes)
}
