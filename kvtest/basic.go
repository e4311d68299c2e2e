package kvtest

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

func testGetMissing(t *testing.T, e *env) {
	v, found, err := e.c.Get(ctx(t), e.key("missing"))
	require.NoError(t, err)
	assert.False(t, found)
	assert.Nil(t, v)
}

func testSetGet(t *testing.T, e *env) {
	k := e.key("a")
	require.NoError(t, e.c.Set(ctx(t), k, []byte("1"), 0))
	requireValue(t, e.c, k, "1")

	require.NoError(t, e.c.Set(ctx(t), k, []byte("2"), 0))
	requireValue(t, e.c, k, "2")
}

func testSetReplacesValueAndTTL(t *testing.T, e *env) {
	k := e.key("a")
	require.NoError(t, e.c.Set(ctx(t), k, []byte("old"), minute))
	require.NoError(t, e.c.Set(ctx(t), k, []byte("new"), 0))
	requireValue(t, e.c, k, "new")

	ttl, found, err := e.c.TTL(ctx(t), k)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, kv.NoExpiry, ttl, "Set with ttl 0 must clear the earlier expiry")
}

func testEmptyValue(t *testing.T, e *env) {
	k := e.key("empty")
	require.NoError(t, e.c.Set(ctx(t), k, []byte{}, 0))
	v, found, err := e.c.Get(ctx(t), k)
	require.NoError(t, err)
	require.True(t, found, "a stored empty value must be found")
	assert.NotNil(t, v, "a stored empty value must be a non-nil slice")
	assert.Empty(t, v)

	// A nil value stores the empty value as well.
	k2 := e.key("nil")
	require.NoError(t, e.c.Set(ctx(t), k2, nil, 0))
	v, found, err = e.c.Get(ctx(t), k2)
	require.NoError(t, err)
	require.True(t, found)
	assert.NotNil(t, v)
	assert.Empty(t, v)
}

func testLargeValue(t *testing.T, e *env) {
	v := make([]byte, 1<<20)
	for i := range v {
		v[i] = byte(i*7 + i>>8)
	}
	k := e.key("large")
	require.NoError(t, e.c.Set(ctx(t), k, v, 0))
	got, found, err := e.c.Get(ctx(t), k)
	require.NoError(t, err)
	require.True(t, found)
	require.True(t, bytes.Equal(v, got), "1 MiB value did not round-trip (got %d bytes)", len(got))
}

func testBinaryKeysAndValues(t *testing.T, e *env) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	keys := [][]byte{
		append(e.key("nul"), 0, 'x', 0),
		append(e.key("ff"), 0xff, 0xfe, 0xfd),
		append(e.key("utf8"), 0xc3, 0x28, 0xa0, 0xa1),
		append(e.key("all"), all...),
	}
	for i, k := range keys {
		v := append([]byte{byte(i), 0}, all...)
		require.NoError(t, e.c.Set(ctx(t), k, v, 0))
		got, found, err := e.c.Get(ctx(t), k)
		require.NoError(t, err)
		require.True(t, found, "binary key %q not found", k)
		require.Equal(t, v, got, "binary value under %q", k)
	}

	got, err := e.c.MGet(ctx(t), keys)
	require.NoError(t, err)
	require.Len(t, got, len(keys))
	for i := range keys {
		require.Equal(t, append([]byte{byte(i), 0}, all...), got[i], "MGet entry %d", i)
	}

	scanned := collectScan(t, e.c, []byte(e.prefix), 0)
	require.ElementsMatch(t, toStrings(keys), scanned, "Scan must return binary keys byte for byte")

	n, err := e.c.DeleteMany(ctx(t), keys)
	require.NoError(t, err)
	require.Equal(t, len(keys), n)
}

func testEmptyKey(t *testing.T, e *env) {
	// The empty key has no room for the subtest's prefix, so clear it first
	// in case another run left it behind.
	_, err := e.c.Delete(ctx(t), []byte{})
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = e.c.Delete(t.Context(), []byte{}) })

	require.NoError(t, e.c.Set(ctx(t), []byte{}, []byte("empty-key"), 0))
	requireValue(t, e.c, []byte{}, "empty-key")
	requireValue(t, e.c, nil, "empty-key")

	deleted, err := e.c.Delete(ctx(t), nil)
	require.NoError(t, err)
	require.True(t, deleted)
}

func testNoAliasing(t *testing.T, e *env) {
	k := e.key("alias")
	key := append([]byte(nil), k...)
	val := []byte("original")
	require.NoError(t, e.c.Set(ctx(t), key, val, 0))

	// Changing the caller's slices after the call changes nothing stored.
	val[0] = 'X'
	key[len(key)-1] = 'X'
	requireValue(t, e.c, k, "original")

	// Changing a returned slice changes nothing stored either.
	got, _, err := e.c.Get(ctx(t), k)
	require.NoError(t, err)
	got[0] = 'Y'
	requireValue(t, e.c, k, "original")

	items := []kv.Item{{Key: e.key("m1"), Value: []byte("one")}}
	require.NoError(t, e.c.MSet(ctx(t), items, 0))
	items[0].Value[0] = 'Z'
	vals, err := e.c.MGet(ctx(t), [][]byte{e.key("m1")})
	require.NoError(t, err)
	require.Equal(t, "one", string(vals[0]))
	vals[0][0] = 'W'
	requireValue(t, e.c, e.key("m1"), "one")

	// The buffer SetNX was given must not be kept either.
	nx := []byte("nx-value")
	set, err := e.c.SetNX(ctx(t), e.key("nx"), nx, 0)
	require.NoError(t, err)
	require.True(t, set)
	nx[0] = 'Q'
	requireValue(t, e.c, e.key("nx"), "nx-value")
}

func testSetNX(t *testing.T, e *env) {
	k := e.key("nx")
	set, err := e.c.SetNX(ctx(t), k, []byte("first"), 0)
	require.NoError(t, err)
	require.True(t, set)

	set, err = e.c.SetNX(ctx(t), k, []byte("second"), 0)
	require.NoError(t, err)
	require.False(t, set, "SetNX on an existing key must not set")
	requireValue(t, e.c, k, "first")

	kt := e.key("nx-ttl")
	set, err = e.c.SetNX(ctx(t), kt, []byte("v"), minute)
	require.NoError(t, err)
	require.True(t, set)
	requireTTLWithin(t, e.c, kt, minute)
}

func testDelete(t *testing.T, e *env) {
	k := e.key("d")
	deleted, err := e.c.Delete(ctx(t), k)
	require.NoError(t, err)
	require.False(t, deleted, "Delete of a missing key must report false")

	require.NoError(t, e.c.Set(ctx(t), k, []byte("v"), 0))
	deleted, err = e.c.Delete(ctx(t), k)
	require.NoError(t, err)
	require.True(t, deleted)
	requireMissing(t, e.c, k)
}

func testExists(t *testing.T, e *env) {
	k := e.key("e")
	ok, err := e.c.Exists(ctx(t), k)
	require.NoError(t, err)
	require.False(t, ok)

	require.NoError(t, e.c.Set(ctx(t), k, []byte{}, 0))
	ok, err = e.c.Exists(ctx(t), k)
	require.NoError(t, err)
	require.True(t, ok, "a key holding the empty value exists")
}
