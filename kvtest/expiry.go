package kvtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

func testInvalidTTL(t *testing.T, e *env) {
	k := e.key("k")
	require.NoError(t, e.c.Set(ctx(t), k, []byte("kept"), 0))

	err := e.c.Set(ctx(t), k, []byte("v"), -time.Second)
	require.ErrorIs(t, err, kv.ErrInvalidTTL, "Set with a negative ttl")

	_, err = e.c.SetNX(ctx(t), e.key("nx"), []byte("v"), -time.Millisecond)
	require.ErrorIs(t, err, kv.ErrInvalidTTL, "SetNX with a negative ttl")

	err = e.c.MSet(ctx(t), []kv.Item{{Key: k, Value: []byte("v")}, {Key: e.key("m"), Value: []byte("v")}}, -1)
	require.ErrorIs(t, err, kv.ErrInvalidTTL, "MSet with a negative ttl")

	_, err = e.c.Expire(ctx(t), k, 0)
	require.ErrorIs(t, err, kv.ErrInvalidTTL, "Expire with ttl 0")
	_, err = e.c.Expire(ctx(t), k, -time.Second)
	require.ErrorIs(t, err, kv.ErrInvalidTTL, "Expire with a negative ttl")

	// A rejected call stores nothing and changes nothing.
	requireValue(t, e.c, k, "kept")
	requireMissing(t, e.c, e.key("nx"))
	requireMissing(t, e.c, e.key("m"))
	ttl, found, err := e.c.TTL(ctx(t), k)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, kv.NoExpiry, ttl, "a rejected Expire must not change the expiry")
}

func testTTLReporting(t *testing.T, e *env) {
	_, found, err := e.c.TTL(ctx(t), e.key("missing"))
	require.NoError(t, err)
	require.False(t, found, "TTL of a missing key must report found=false")

	k := e.key("forever")
	require.NoError(t, e.c.Set(ctx(t), k, []byte("v"), 0))
	ttl, found, err := e.c.TTL(ctx(t), k)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, kv.NoExpiry, ttl)

	kt := e.key("ten-seconds")
	require.NoError(t, e.c.Set(ctx(t), kt, []byte("v"), 10*time.Second))
	ttl, found, err = e.c.TTL(ctx(t), kt)
	require.NoError(t, err)
	require.True(t, found)
	require.Greater(t, ttl, 8*time.Second, "ttl right after Set with 10s")
	require.LessOrEqual(t, ttl, 10*time.Second)
}

func testSubMillisecondTTL(t *testing.T, e *env) {
	k := e.key("tiny")
	require.NoError(t, e.c.Set(ctx(t), k, []byte("v"), time.Nanosecond))

	// The key lives at most about a millisecond; it must never be stored
	// without expiry.
	ttl, found, err := e.c.TTL(ctx(t), k)
	require.NoError(t, err)
	if found {
		require.NotEqual(t, kv.NoExpiry, ttl, "a 1ns ttl must round up to 1ms, not to no expiry")
		require.LessOrEqual(t, ttl, time.Millisecond)
	}
	require.Eventually(t, func() bool {
		_, found, err := e.c.Get(ctx(t), k)
		return err == nil && !found
	}, 2*time.Second, 5*time.Millisecond, "key with a 1ns ttl never expired")

	set, err := e.c.SetNX(ctx(t), e.key("tiny-nx"), []byte("v"), 500*time.Microsecond)
	require.NoError(t, err)
	require.True(t, set)
	ttl, found, err = e.c.TTL(ctx(t), e.key("tiny-nx"))
	require.NoError(t, err)
	if found {
		require.NotEqual(t, kv.NoExpiry, ttl, "a 500µs ttl on SetNX must not mean no expiry")
	}
}

// testExpiryInRealTime checks that once a key's ttl has passed, no method
// reports it, whatever background cleanup the implementation does.
func testExpiryInRealTime(t *testing.T, e *env) {
	const ttl = 150 * time.Millisecond
	k := e.key("short")
	other := e.key("short-m")
	require.NoError(t, e.c.Set(ctx(t), k, []byte("v"), ttl))
	require.NoError(t, e.c.MSet(ctx(t), []kv.Item{{Key: other, Value: []byte("m")}}, ttl))
	written := time.Now()

	requireValue(t, e.c, k, "v")
	requireTTLWithin(t, e.c, other, ttl)

	// The ttl started no later than the writes returned, so a margin for
	// timer granularity is all that is needed past that point.
	waitUntil(written.Add(ttl + 25*time.Millisecond))

	requireMissing(t, e.c, k)
	requireMissing(t, e.c, other)
	ok, err := e.c.Exists(ctx(t), k)
	require.NoError(t, err)
	assert.False(t, ok, "Exists reports an expired key")
	_, found, err := e.c.TTL(ctx(t), k)
	require.NoError(t, err)
	assert.False(t, found, "TTL reports an expired key")
	vals, err := e.c.MGet(ctx(t), [][]byte{k, other})
	require.NoError(t, err)
	assert.Equal(t, [][]byte{nil, nil}, vals, "MGet returns expired keys")
	assert.Empty(t, collectScan(t, e.c, []byte(e.prefix), 0), "Scan yields expired keys")
	deleted, err := e.c.Delete(ctx(t), k)
	require.NoError(t, err)
	assert.False(t, deleted, "Delete counts an expired key")
	set, err := e.c.SetNX(ctx(t), k, []byte("again"), 0)
	require.NoError(t, err)
	assert.True(t, set, "SetNX must treat an expired key as missing")
}

func testExpire(t *testing.T, e *env) {
	ok, err := e.c.Expire(ctx(t), e.key("missing"), time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "Expire of a missing key must report false")
	requireMissing(t, e.c, e.key("missing"))

	k := e.key("k")
	require.NoError(t, e.c.Set(ctx(t), k, []byte("v"), 0))
	ok, err = e.c.Expire(ctx(t), k, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	requireTTLWithin(t, e.c, k, time.Minute)
	requireValue(t, e.c, k, "v")

	ok, err = e.c.Expire(ctx(t), k, 100*time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool {
		_, found, err := e.c.Get(ctx(t), k)
		return err == nil && !found
	}, 3*time.Second, 10*time.Millisecond, "key never expired after Expire(100ms)")
}
