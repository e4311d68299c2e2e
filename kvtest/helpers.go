package kvtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

const minute = time.Minute

func requireValue(t *testing.T, c kv.Client, key []byte, want string) {
	t.Helper()
	got, found, err := c.Get(ctx(t), key)
	require.NoError(t, err)
	require.True(t, found, "key %q not found, want %q", key, want)
	require.Equal(t, want, string(got), "value of %q", key)
}

func requireMissing(t *testing.T, c kv.Client, key []byte) {
	t.Helper()
	got, found, err := c.Get(ctx(t), key)
	require.NoError(t, err)
	require.False(t, found, "key %q still found with value %q", key, got)
	require.Nil(t, got)
}

// requireTTLWithin checks that key exists with an expiry in (0, max].
func requireTTLWithin(t *testing.T, c kv.Client, key []byte, max time.Duration) {
	t.Helper()
	ttl, found, err := c.TTL(ctx(t), key)
	require.NoError(t, err)
	require.True(t, found, "key %q has no TTL entry", key)
	require.Greater(t, ttl, time.Duration(0), "ttl of %q", key)
	require.LessOrEqual(t, ttl, max, "ttl of %q", key)
}

// collectScan returns the keys Scan yields as strings, failing on an error.
func collectScan(t *testing.T, c kv.Client, prefix []byte, limit int) []string {
	t.Helper()
	var keys []string
	for k, err := range c.Scan(ctx(t), prefix, limit) {
		require.NoError(t, err)
		keys = append(keys, string(k))
	}
	return keys
}

func toStrings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// waitUntil blocks until the wall clock passes deadline. Expiry tests use
// it to wait for a time, not to order goroutines.
func waitUntil(deadline time.Time) {
	if d := time.Until(deadline); d > 0 {
		<-time.After(d)
	}
}
