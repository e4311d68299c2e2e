package kvtest

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

func testIncr(t *testing.T, e *env) {
	k := e.key("n")
	for want := int64(1); want <= 5; want++ {
		got, err := e.c.Incr(ctx(t), k)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	requireValue(t, e.c, k, "5")

	neg := e.key("neg")
	require.NoError(t, e.c.Set(ctx(t), neg, []byte("-3"), 0))
	got, err := e.c.Incr(ctx(t), neg)
	require.NoError(t, err)
	require.Equal(t, int64(-2), got)
	requireValue(t, e.c, neg, "-2")

	big := e.key("big")
	require.NoError(t, e.c.Set(ctx(t), big, []byte(strconv.FormatInt(1<<62, 10)), 0))
	got, err = e.c.Incr(ctx(t), big)
	require.NoError(t, err)
	require.Equal(t, int64(1<<62+1), got)
}

func testIncrNotInteger(t *testing.T, e *env) {
	cases := []struct {
		name  string
		value string
	}{
		{"text", "abc"},
		{"float", "1.5"},
		{"space", " 1"},
		{"empty", ""},
		{"overflow", strconv.FormatInt(1<<63-1, 10)},
		{"too long", "99999999999999999999"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := e.key("bad:" + tc.name)
			require.NoError(t, e.c.Set(ctx(t), k, []byte(tc.value), 0))
			_, err := e.c.Incr(ctx(t), k)
			require.ErrorIs(t, err, kv.ErrNotInteger, "Incr on %q", tc.value)
			requireValue(t, e.c, k, tc.value)
		})
	}
}

func testIncrKeepsTTL(t *testing.T, e *env) {
	k := e.key("n")
	require.NoError(t, e.c.Set(ctx(t), k, []byte("10"), time.Minute))
	got, err := e.c.Incr(ctx(t), k)
	require.NoError(t, err)
	require.Equal(t, int64(11), got)
	requireTTLWithin(t, e.c, k, time.Minute)

	// A counter created by Incr has no expiry.
	fresh := e.key("fresh")
	_, err = e.c.Incr(ctx(t), fresh)
	require.NoError(t, err)
	ttl, found, err := e.c.TTL(ctx(t), fresh)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, kv.NoExpiry, ttl)
}
