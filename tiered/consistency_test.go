package tiered

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv/internal/valkeytest"
	"github.com/derp-kv/kv/remote"
)

// requireL1Holds fails unless L1 has no servable entry for k, or has want.
func requireL1Holds(t *testing.T, c *Client, k []byte, want string, round int) {
	t.Helper()
	v, found, hit := c.lookup(context.Background(), k, false)
	if hit {
		require.True(t, found, "round %d: L1 caches a miss for a key L2 has", round)
		require.Equal(t, want, string(v), "round %d: L1 kept a value L2 no longer has", round)
	}
}

func TestMissRacingWriteNeverFillsStaleValue(t *testing.T) {
	const rounds = 10000
	ctx := testContext(t)
	c := newClient(t, newRemote(t, standaloneConfig()), WithoutInvalidation())
	k := uniqueKey(t, "race")

	for round := range rounds {
		old, fresh := "old-"+strconv.Itoa(round), "new-"+strconv.Itoa(round)
		require.NoError(t, c.Set(ctx, k, []byte(old), 0))

		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			<-start
			v, found, err := c.Get(ctx, k)
			assert.NoError(t, err)
			assert.True(t, found)
			// Concurrent with the write, so either value is correct.
			assert.Contains(t, []string{old, fresh}, string(v))
		})
		wg.Go(func() {
			<-start
			assert.NoError(t, c.Set(ctx, k, []byte(fresh), 0))
		})
		close(start)
		wg.Wait()

		requireL1Holds(t, c, k, fresh, round)
		v, _, err := c.Get(ctx, k)
		require.NoError(t, err)
		require.Equal(t, fresh, string(v), "round %d: a Get after the write returned must see it", round)
	}
	s := c.Stats()
	t.Logf("%d rounds: %d fills, %d stale fills skipped", rounds, s.Fills, s.StaleFills)
}

func TestDuplicateReorderedInvalidationsLeaveNoStaleEntry(t *testing.T) {
	const rounds = 300
	ctx := testContext(t)
	cfg := standaloneConfig()
	a := newClient(t, newRemote(t, cfg))
	lossy := &lossySubscriber{Client: newRemote(t, cfg), duplicate: true}
	b := newClient(t, lossy, WithNegativeCaching(time.Minute))
	keys := [][]byte{uniqueKey(t, "x"), uniqueKey(t, "y")}

	for round := range rounds {
		want := strconv.Itoa(round)
		var wg sync.WaitGroup
		for _, k := range keys {
			// B keeps reading while A writes, so fills race the
			// invalidations, which arrive twice and in any order.
			wg.Go(func() {
				for range 3 {
					_, _, err := b.Get(ctx, k)
					assert.NoError(t, err)
				}
			})
			if round%5 == 4 {
				_, err := a.Delete(ctx, k)
				require.NoError(t, err)
				continue
			}
			require.NoError(t, a.Set(ctx, k, []byte(want), 0))
		}
		wg.Wait()
		for _, k := range keys {
			expect := want
			if round%5 == 4 {
				expect = ""
			}
			require.Eventually(t, func() bool {
				v, _, err := b.Get(ctx, k)
				return err == nil && string(v) == expect
			}, 5*time.Second, time.Millisecond, "round %d", round)
		}
	}
	assert.Positive(t, b.Stats().InvalidationsReceived)
}

func TestLostSubscriptionReadsAroundL1UntilRecovered(t *testing.T) {
	ctx := testContext(t)
	cfg := standaloneConfig()
	a := newClient(t, newRemote(t, cfg))
	lossy := &lossySubscriber{Client: newRemote(t, cfg)}
	b := newClient(t, lossy, WithHeartbeat(20*time.Millisecond, 5))
	k := uniqueKey(t, "lost")
	require.NoError(t, a.Set(ctx, k, []byte("v1"), 0))
	warmL1(t, b, k, "v1")

	lossy.drop.Store(true)
	require.NoError(t, a.Set(ctx, k, []byte("v2"), 0))
	require.Eventually(t, func() bool { return b.Stats().Degraded }, 5*time.Second, time.Millisecond,
		"B must notice that its heartbeats stopped")
	requireGet(t, b, k, "v2")
	hits := b.Stats().L1Hits
	requireGet(t, b, k, "v2")
	assert.Equal(t, hits, b.Stats().L1Hits, "a degraded client must not serve L1")

	lossy.drop.Store(false)
	require.Eventually(t, func() bool { return !b.Stats().Degraded }, 5*time.Second, time.Millisecond,
		"B must recover when its heartbeats return")
	s := b.Stats()
	// A heartbeat delayed on a loaded machine can count as a loss too.
	assert.GreaterOrEqual(t, s.SubscriptionLosses, uint64(1))
	assert.Positive(t, s.Resets)
	warmL1(t, b, k, "v2")
}

func TestLateInvalidationsReadAroundL1(t *testing.T) {
	ctx := testContext(t)
	cfg := standaloneConfig()
	a := newClient(t, newRemote(t, cfg))
	slow := &lossySubscriber{Client: newRemote(t, cfg)}
	b := newClient(t, slow, WithHeartbeat(20*time.Millisecond, 3))
	k := uniqueKey(t, "late")
	require.NoError(t, a.Set(ctx, k, []byte("v1"), 0))
	warmL1(t, b, k, "v1")

	// Every message, heartbeats included, now arrives 400 ms late: more
	// than B's lag limit of 60 ms, though none is lost.
	slow.delay.Store(int64(400 * time.Millisecond))
	require.Eventually(t, func() bool { return b.Stats().Degraded }, 5*time.Second, time.Millisecond,
		"B must stop trusting L1 when its heartbeats arrive too late")

	// Once the late heartbeats flow again, they arrive every 20 ms, so only
	// their send time shows that B is behind. B must stay degraded, or it
	// would serve v1 from L1 for the 400 ms the invalidation of v2 takes.
	lateFlowing := time.Now().Add(600 * time.Millisecond)
	<-time.After(time.Until(lateFlowing))
	require.True(t, b.Stats().Degraded, "late heartbeats must not end the degraded state")
	requireGet(t, b, k, "v1")
	requireGet(t, b, k, "v1")
	require.NoError(t, a.Set(ctx, k, []byte("v2"), 0))
	requireGet(t, b, k, "v2")
	assert.LessOrEqual(t, b.StalenessBound(), 80*time.Millisecond)

	slow.delay.Store(0)
	require.Eventually(t, func() bool { return !b.Stats().Degraded }, 5*time.Second, time.Millisecond,
		"B must recover once its heartbeats arrive on time")
	warmL1(t, b, k, "v2")
}

func TestHeartbeatRoundTrip(t *testing.T) {
	var origin [originSize]byte
	msg := encodeHeartbeat(origin, 42, 1500*time.Millisecond)
	seq, sent, err := decodeHeartbeat(msg[1+originSize:])
	require.NoError(t, err)
	assert.Equal(t, uint64(42), seq)
	assert.Equal(t, 1500*time.Millisecond, sent)
	_, _, err = decodeHeartbeat(msg[1+originSize : len(msg)-1])
	assert.Error(t, err, "a truncated heartbeat must be rejected")
	_, _, err = decodeHeartbeat(append(msg[1+originSize:], 0))
	assert.Error(t, err, "a heartbeat with trailing bytes must be rejected")
}

func TestMissedHeartbeatClearsL1(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, newRemote(t, standaloneConfig()), WithHeartbeat(time.Hour, 3))
	k := uniqueKey(t, "gap")
	require.NoError(t, c.Set(ctx, k, []byte("v"), 0))
	warmL1(t, c, k, "v")

	// Heartbeat 2 arriving after 0 means heartbeat 1 was lost, and with it
	// perhaps an invalidation.
	c.receive(encodeHeartbeat(c.origin, 2, time.Since(c.started)))
	_, _, hit := c.lookup(ctx, k, false)
	assert.False(t, hit, "L1 must be cleared after a gap")
	assert.Equal(t, uint64(1), c.Stats().Resets)

	warmL1(t, c, k, "v")
	c.receive(encodeHeartbeat(c.origin, 3, time.Since(c.started)))
	c.receive(encodeHeartbeat(c.origin, 2, time.Since(c.started))) // late duplicate
	_, _, hit = c.lookup(ctx, k, false)
	assert.True(t, hit, "consecutive and late heartbeats keep L1")
	assert.Equal(t, uint64(1), c.Stats().Resets)
}

func TestMalformedMessagesAreCounted(t *testing.T) {
	c := newClient(t, newRemote(t, standaloneConfig()), WithHeartbeat(time.Hour, 3))
	var other [originSize]byte
	other[0] = 1
	good := encodeInvalidation(other, [][]byte{[]byte("k")})
	for _, msg := range [][]byte{
		nil,
		[]byte("i"),
		good[:len(good)-1],
		append(append([]byte{}, good...), 'x'),
		append([]byte{'z'}, good[1:]...),
	} {
		c.receive(msg)
	}
	assert.Equal(t, uint64(5), c.Stats().Errors)
	assert.Zero(t, c.Stats().InvalidationsReceived)
	c.receive(good)
	assert.Equal(t, uint64(1), c.Stats().InvalidationsReceived)
}

func TestInvalidationRoundTrip(t *testing.T) {
	var origin [originSize]byte
	keys := [][]byte{{}, []byte("a"), {0, 0xff, 0xfe}, make([]byte, 300)}
	msg := encodeInvalidation(origin, keys)
	got, err := decodeKeys(msg[1+originSize:])
	require.NoError(t, err)
	require.Len(t, got, len(keys))
	for i := range keys {
		assert.Equal(t, keys[i], got[i])
	}
}

func FuzzDecodeKeys(f *testing.F) {
	var origin [originSize]byte
	f.Add(encodeInvalidation(origin, [][]byte{[]byte("k"), nil})[1+originSize:])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := decodeKeys(body)
		if err != nil {
			return
		}
		again, err := decodeKeys(encodeInvalidation(origin, keys)[1+originSize:])
		require.NoError(t, err)
		require.Equal(t, len(keys), len(again))
	})
}

func TestKilledSubscriptionClearsL1AndRecovers(t *testing.T) {
	server, err := valkeytest.Start()
	require.NoError(t, err)
	defer server.Stop()
	ctx := testContext(t)
	cfg := remoteConfig(remote.Standalone, server)
	a := newClient(t, newRemote(t, cfg))
	b := newClient(t, newRemote(t, cfg), WithHeartbeat(20*time.Millisecond, 5))
	k := uniqueKey(t, "killed")
	require.NoError(t, a.Set(ctx, k, []byte("v1"), 0))
	warmL1(t, b, k, "v1")

	// The server drops every subscriber connection; GLIDE reconnects and
	// subscribes again, and the messages sent in between are lost.
	_, err = server.CLI("CLIENT", "KILL", "TYPE", "pubsub")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.Stats().Resets > 0 }, 10*time.Second, time.Millisecond,
		"B must notice the lost heartbeats and clear L1")
	require.Eventually(t, func() bool { return !b.Stats().Degraded }, 10*time.Second, time.Millisecond)

	// Invalidation works again after the reconnect.
	warmL1(t, b, k, "v1")
	require.NoError(t, a.Set(ctx, k, []byte("v2"), 0))
	require.Eventually(t, func() bool {
		v, _, err := b.Get(ctx, k)
		return err == nil && string(v) == "v2"
	}, 5*time.Second, time.Millisecond)
}
