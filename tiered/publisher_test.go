package tiered

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv/remote"
)

// slowPublisher holds back each Publish of invalidations on a remote client,
// so that writes finish while a publish is in flight.
type slowPublisher struct {
	*remote.Client
	delay     time.Duration
	published atomic.Int64
}

func (s *slowPublisher) Publish(ctx context.Context, channel string, message []byte) error {
	if message[0] == msgInvalidate {
		time.Sleep(s.delay)
		s.published.Add(1)
	}
	return s.Client.Publish(ctx, channel, message)
}

func TestConcurrentWritesShareOnePublish(t *testing.T) {
	ctx := testContext(t)
	slow := &slowPublisher{Client: newRemote(t, standaloneConfig()), delay: 50 * time.Millisecond}
	a := newClient(t, slow)
	b := newClient(t, newRemote(t, standaloneConfig()))

	const writes = 64
	keys := make([][]byte, writes)
	for i := range keys {
		keys[i] = uniqueKey(t, "batch-"+strconv.Itoa(i))
		require.NoError(t, a.Set(ctx, keys[i], []byte("v1"), 0))
		warmL1(t, b, keys[i], "v1")
	}
	before := slow.published.Load()
	sentBefore := a.Stats().InvalidationsSent

	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, a.Set(ctx, k, []byte("v2"), 0))
		}()
	}
	wg.Wait()

	published := slow.published.Load() - before
	t.Logf("%d writes published in %d messages", writes, published)
	assert.Less(t, published, int64(writes/2), "writes waiting behind a publish must share the next one")
	assert.Equal(t, published, int64(a.Stats().InvalidationsSent-sentBefore))
	// Every key of every batch reaches the other process.
	for _, k := range keys {
		require.Eventually(t, func() bool { return getOf(t, b, k) == "v2" }, 5*time.Second, time.Millisecond,
			"B must drop %q", k)
	}
}
