package kvtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

func testMGet(t *testing.T, e *env) {
	vals, err := e.c.MGet(ctx(t), nil)
	require.NoError(t, err)
	require.Empty(t, vals, "MGet of no keys")

	require.NoError(t, e.c.Set(ctx(t), e.key("a"), []byte("A"), 0))
	require.NoError(t, e.c.Set(ctx(t), e.key("empty"), []byte{}, 0))
	require.NoError(t, e.c.Set(ctx(t), e.key("c"), []byte("C"), 0))

	keys := [][]byte{e.key("a"), e.key("missing"), e.key("empty"), e.key("c"), e.key("a")}
	vals, err = e.c.MGet(ctx(t), keys)
	require.NoError(t, err)
	require.Len(t, vals, len(keys))
	assert.Equal(t, []byte("A"), vals[0])
	assert.Nil(t, vals[1], "a missing key must be nil")
	require.NotNil(t, vals[2], "a stored empty value must be a non-nil slice")
	assert.Empty(t, vals[2])
	assert.Equal(t, []byte("C"), vals[3])
	assert.Equal(t, []byte("A"), vals[4], "a repeated key gets its value at each position")
}

func testMSet(t *testing.T, e *env) {
	require.NoError(t, e.c.MSet(ctx(t), nil, 0), "MSet of no items")

	const n = 50
	items := make([]kv.Item, n)
	keys := make([][]byte, n)
	for i := range items {
		keys[i] = e.key(fmt.Sprintf("m%d", i))
		items[i] = kv.Item{Key: keys[i], Value: []byte(fmt.Sprintf("v%d", i))}
	}
	require.NoError(t, e.c.MSet(ctx(t), items, time.Minute))
	vals, err := e.c.MGet(ctx(t), keys)
	require.NoError(t, err)
	for i := range keys {
		require.Equal(t, fmt.Sprintf("v%d", i), string(vals[i]), "key %q", keys[i])
		requireTTLWithin(t, e.c, keys[i], time.Minute)
	}

	// MSet with ttl 0 replaces the values and clears the expiry.
	require.NoError(t, e.c.MSet(ctx(t), items[:2], 0))
	for _, k := range keys[:2] {
		ttl, found, err := e.c.TTL(ctx(t), k)
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, kv.NoExpiry, ttl, "MSet with ttl 0 must clear the expiry of %q", k)
	}
}

func testDeleteMany(t *testing.T, e *env) {
	n, err := e.c.DeleteMany(ctx(t), nil)
	require.NoError(t, err)
	require.Zero(t, n, "DeleteMany of no keys")

	require.NoError(t, e.c.MSet(ctx(t), []kv.Item{
		{Key: e.key("a"), Value: []byte("1")},
		{Key: e.key("b"), Value: []byte("2")},
		{Key: e.key("c"), Value: []byte("3")},
	}, 0))

	n, err = e.c.DeleteMany(ctx(t), [][]byte{e.key("a"), e.key("a"), e.key("missing"), e.key("b")})
	require.NoError(t, err)
	require.Equal(t, 2, n, "each existing key counts once, even when listed twice")
	requireMissing(t, e.c, e.key("a"))
	requireMissing(t, e.c, e.key("b"))
	requireValue(t, e.c, e.key("c"), "3")
}
