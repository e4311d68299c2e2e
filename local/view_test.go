package local

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

func TestViewReturnsStoredValue(t *testing.T) {
	c := newClient(t)
	ctx := t.Context()
	key := []byte("view")
	require.NoError(t, c.Set(ctx, key, []byte("first"), 0))

	v, found, err := c.View(ctx, key)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, "first", string(v))
	assert.Equal(t, len(v), cap(v), "an append must not write into the stored entry")

	again, _, err := c.View(ctx, key)
	require.NoError(t, err)
	assert.Same(t, &v[0], &again[0], "View must not copy")

	// A write stores a new entry and leaves the viewed bytes alone.
	require.NoError(t, c.Set(ctx, key, []byte("second"), 0))
	assert.Equal(t, "first", string(v))
	now, _, err := c.View(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "second", string(now))

	// Appending to a viewed slice copies it.
	grown := append(now, '!')
	assert.Equal(t, "second!", string(grown))
	after, _, err := c.Get(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "second", string(after))
}

func TestViewMissingAndExpired(t *testing.T) {
	c := newClient(t)
	ctx := t.Context()

	v, found, err := c.View(ctx, []byte("view:absent"))
	require.NoError(t, err)
	assert.False(t, found)
	assert.Nil(t, v)

	key := []byte("view:expiring")
	require.NoError(t, c.Set(ctx, key, []byte("x"), 20*time.Millisecond))
	time.Sleep(40 * time.Millisecond)
	_, found, err = c.View(ctx, key)
	require.NoError(t, err)
	assert.False(t, found, "an expired entry must not be viewed")

	s := c.Stats()
	assert.Equal(t, uint64(2), s.Misses)
}

func TestViewEmptyValueIsNotNil(t *testing.T) {
	c := newClient(t)
	ctx := t.Context()
	for _, key := range [][]byte{{}, []byte("view:empty")} {
		require.NoError(t, c.Set(ctx, key, nil, 0))
		v, found, err := c.View(ctx, key)
		require.NoError(t, err)
		require.True(t, found, "key %q", key)
		assert.NotNil(t, v, "key %q", key)
		assert.Empty(t, v, "key %q", key)
	}
}

func TestViewCancelledAndClosed(t *testing.T) {
	c, err := New()
	require.NoError(t, err)
	key := []byte("view")
	require.NoError(t, c.Set(t.Context(), key, []byte("v"), 0))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err = c.View(ctx, key)
	assert.True(t, errors.Is(err, context.Canceled), "got %v", err)

	require.NoError(t, c.Close())
	_, _, err = c.View(t.Context(), key)
	assert.True(t, errors.Is(err, kv.ErrClosed), "got %v", err)
}
