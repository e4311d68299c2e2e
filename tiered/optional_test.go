package tiered

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/patterns"
)

func TestSwapperRoutesToL2AndInvalidates(t *testing.T) {
	ctx := testContext(t)
	cfg := standaloneConfig()
	a := newClient(t, newRemote(t, cfg))
	b := newClient(t, newRemote(t, cfg))
	k := uniqueKey(t, "cas")
	require.NoError(t, a.Set(ctx, k, []byte("1"), 0))
	warmL1(t, a, k, "1")
	warmL1(t, b, k, "1")

	swapped, err := a.CompareAndSwap(ctx, k, []byte("1"), []byte("2"), time.Minute)
	require.NoError(t, err)
	require.True(t, swapped)
	requireGet(t, a, k, "2") // read your writes: a dropped its L1 entry
	require.Eventually(t, func() bool { return getOf(t, b, k) == "2" }, 5*time.Second, time.Millisecond,
		"b must drop its L1 entry after a's CompareAndSwap")

	swapped, err = a.CompareAndSwap(ctx, k, []byte("1"), []byte("3"), 0)
	require.NoError(t, err)
	assert.False(t, swapped, "a CompareAndSwap with a stale old value must fail")
	requireGet(t, a, k, "2")

	warmL1(t, b, k, "2")
	deleted, err := a.CompareAndDelete(ctx, k, []byte("2"))
	require.NoError(t, err)
	require.True(t, deleted)
	require.Eventually(t, func() bool { return getOf(t, b, k) == "" }, 5*time.Second, time.Millisecond,
		"b must drop its L1 entry after a's CompareAndDelete")
}

func TestIncrWithTTLRoutesToL2AndInvalidates(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, newRemote(t, standaloneConfig()))
	k := uniqueKey(t, "counter")
	require.NoError(t, c.Set(ctx, k, []byte("41"), 0))
	warmL1(t, c, k, "41")

	n, remaining, err := c.IncrWithTTL(ctx, k, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, int64(42), n)
	assert.Greater(t, remaining, 50*time.Second)
	assert.LessOrEqual(t, remaining, time.Minute)
	requireGet(t, c, k, "42")
}

func TestPubSubRoutesToL2(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, newRemote(t, standaloneConfig()))
	got := make(chan []byte, 1)
	sub, err := c.Subscribe(ctx, "tiered-test-channel", func(msg []byte) {
		select {
		case got <- msg:
		default:
		}
	})
	require.NoError(t, err)
	defer sub.Close()
	require.NoError(t, c.Publish(ctx, "tiered-test-channel", []byte{0, 0xff, 'x'}))
	select {
	case msg := <-got:
		assert.Equal(t, []byte{0, 0xff, 'x'}, msg)
	case <-ctx.Done():
		t.Fatal("the published message never arrived")
	}
}

func TestOptionalWithoutSupportInL2(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, newLocal(t), WithoutInvalidation())
	err := c.Publish(ctx, "ch", []byte("m"))
	require.ErrorIs(t, err, kv.ErrUnsupported)
	assert.Contains(t, err.Error(), "kv: tiered: publish: L2 *local.Client does not implement")

	// local implements kv.Swapper and kv.TTLCounter, so those work.
	n, _, err := c.IncrWithTTL(ctx, []byte("n"), time.Minute)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)

	require.NoError(t, c.Close())
	_, err = c.CompareAndDelete(ctx, []byte("n"), []byte("1"))
	require.ErrorIs(t, err, kv.ErrClosed)
}

func TestRateLimitThroughTieredIsExact(t *testing.T) {
	ctx := testContext(t)
	cfg := standaloneConfig()
	clients := []*Client{newClient(t, newRemote(t, cfg)), newClient(t, newRemote(t, cfg))}
	key := string(uniqueKey(t, "limit"))
	allowed := 0
	for i := range 30 {
		r, err := patterns.RateLimit(ctx, clients[i%2], key, 10, time.Minute)
		require.NoError(t, err)
		if r.Allowed {
			allowed++
		}
	}
	assert.Equal(t, 10, allowed, "the limit holds across two tiered clients")
}

func TestL2OnlyKeysNeverEnterL1(t *testing.T) {
	ctx := testContext(t)
	cfg := standaloneConfig()
	a := newClient(t, newRemote(t, cfg))
	b := newClient(t, newRemote(t, cfg))
	k := append([]byte(DefaultL2OnlyPrefix), uniqueKey(t, "state")...)

	require.NoError(t, a.Set(ctx, k, []byte("1"), 0))
	requireGet(t, b, k, "1")
	requireGet(t, b, k, "1")
	assert.Zero(t, b.Stats().L1Hits, "a key under an L2-only prefix must not be served from L1")

	sent := a.Stats().InvalidationsSent
	require.NoError(t, a.Set(ctx, k, []byte("2"), 0))
	_, _, err := a.IncrWithTTL(ctx, append([]byte(DefaultL2OnlyPrefix), uniqueKey(t, "n")...), time.Minute)
	require.NoError(t, err)
	assert.Equal(t, sent, a.Stats().InvalidationsSent, "writes to L2-only keys publish nothing")
	requireGet(t, b, k, "2") // at once: b never cached it
}

func TestL2OnlyPrefixesCanBeCleared(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, newRemote(t, standaloneConfig()), WithL2OnlyPrefixes())
	k := append([]byte(DefaultL2OnlyPrefix), uniqueKey(t, "cached")...)
	require.NoError(t, c.Set(ctx, k, []byte("v"), 0))
	warmL1(t, c, k, "v")
	requireGet(t, c, k, "v")
	assert.Positive(t, c.Stats().L1Hits, "without L2-only prefixes every key is cached")

	// A failed New leaves the tiers open: they are still ours.
	l1, l2 := newLocal(t), newLocal(t)
	defer l1.Close()
	defer l2.Close()
	_, err := New(l1, l2, WithoutInvalidation(), WithL2OnlyPrefixes("app:", ""))
	require.ErrorContains(t, err, "empty L2-only prefix")
}
