package tiered

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv/remote"
)

// heldWriter wraps a remote client so that a Set, once applied in Valkey,
// waits for the test before it returns: the reply of a write still on its
// way back when Close begins.
type heldWriter struct {
	*remote.Client
	applied chan struct{}
	release chan struct{}
}

func (h *heldWriter) Set(ctx context.Context, key, value []byte, ttl time.Duration) error {
	err := h.Client.Set(ctx, key, value, ttl)
	close(h.applied)
	<-h.release
	return err
}

func TestCloseWaitsForWriteToPublish(t *testing.T) {
	ctx := testContext(t)
	cfg := standaloneConfig()
	writer := &heldWriter{Client: newRemote(t, cfg), applied: make(chan struct{}), release: make(chan struct{})}
	a, err := New(newLocal(t), writer)
	require.NoError(t, err)
	b := newClient(t, newRemote(t, cfg), WithHeartbeat(20*time.Millisecond, 3))
	k := uniqueKey(t, "closing")
	require.NoError(t, b.Set(ctx, k, []byte("v1"), 0))
	warmL1(t, b, k, "v1")

	setErr := make(chan error, 1)
	go func() { setErr <- a.Set(ctx, k, []byte("v2"), 0) }()
	<-writer.applied
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()

	// Close must not close L2 under the write: it waits for it. Without that
	// wait, Close finishes well within half a second here.
	select {
	case <-closed:
		t.Fatal("Close returned while a write was in flight")
	case <-time.After(500 * time.Millisecond):
	}
	require.True(t, a.closed.Load(), "Close must reject new calls while it waits")
	close(writer.release)
	require.NoError(t, <-setErr)
	require.NoError(t, <-closed)

	// The write's invalidation was published, so B drops v1 well within the
	// L1 TTL cap of one minute.
	require.Eventually(t, func() bool { return getOf(t, b, k) == "v2" }, 5*time.Second, time.Millisecond,
		"B still serves v1: the invalidation of a write in flight at Close was lost")
}

// slowReader wraps a remote client so that every read with TTLs returns
// late, as a slow network or a busy worker would, after L2 reported the
// key's time left.
type slowReader struct {
	*remote.Client
	delay time.Duration
}

func (s *slowReader) MGetWithTTL(ctx context.Context, keys [][]byte) ([][]byte, []time.Duration, error) {
	values, ttls, err := s.Client.MGetWithTTL(ctx, keys)
	<-time.After(s.delay)
	return values, ttls, err
}

func TestFillCountsTTLFromTheRead(t *testing.T) {
	ctx := testContext(t)
	r := newRemote(t, standaloneConfig())
	c := newClient(t, &slowReader{Client: r, delay: 200 * time.Millisecond})
	k := uniqueKey(t, "expiring")

	const ttl = 300 * time.Millisecond
	written := time.Now()
	require.NoError(t, r.Set(ctx, k, []byte("v"), ttl))
	requireGet(t, c, k, "v") // fills L1 about 200 ms after the read

	// Once the key has expired in L2, L1 must not return it either, although
	// less than ttl has passed since the fill.
	<-time.After(time.Until(written.Add(ttl + 20*time.Millisecond)))
	_, found, err := r.Get(ctx, k)
	require.NoError(t, err)
	require.False(t, found, "the key should have expired in L2")
	v, found, err := c.Get(ctx, k)
	require.NoError(t, err)
	assert.False(t, found, "L1 returned %q after the key expired in L2", v)
}
