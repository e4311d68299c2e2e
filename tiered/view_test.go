package tiered

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

func TestViewSharesL1HitsAndOwnsMisses(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, newRemote(t, standaloneConfig()))
	k := uniqueKey(t, "view")
	require.NoError(t, c.Set(ctx, k, []byte("v1"), 0))

	// The first read misses L1: its value comes from L2 and is the
	// caller's own.
	missed, found, err := c.View(ctx, k)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, "v1", string(missed))
	assert.Equal(t, uint64(0), c.Stats().L1Hits)

	warmL1(t, c, k, "v1")
	hits := c.Stats().L1Hits
	first, found, err := c.View(ctx, k)
	require.NoError(t, err)
	require.True(t, found)
	second, _, err := c.View(ctx, k)
	require.NoError(t, err)
	assert.Equal(t, "v1", string(first))
	assert.Equal(t, hits+2, c.Stats().L1Hits)
	assert.Same(t, &first[0], &second[0], "L1 hits must share the stored bytes")
	assert.Equal(t, len(first), cap(first), "an append must not write into L1")
	copied, _, err := c.Get(ctx, k)
	require.NoError(t, err)
	assert.NotSame(t, &first[0], &copied[0], "Get must copy")

	require.NoError(t, c.Set(ctx, k, []byte("v2"), 0))
	now, _, err := c.View(ctx, k)
	require.NoError(t, err)
	assert.Equal(t, "v2", string(now))
	assert.Equal(t, "v1", string(first), "a write must leave viewed bytes alone")
}

func TestViewSeesWriteFromOtherClient(t *testing.T) {
	ctx := testContext(t)
	a := newClient(t, newRemote(t, standaloneConfig()))
	b := newClient(t, newRemote(t, standaloneConfig()))
	k := uniqueKey(t, "view-shared")
	require.NoError(t, a.Set(ctx, k, []byte("v1"), 0))
	warmL1(t, b, k, "v1")

	require.NoError(t, a.Set(ctx, k, []byte("v2"), 0))
	require.Eventually(t, func() bool {
		v, _, err := b.View(ctx, k)
		return err == nil && string(v) == "v2"
	}, 5*time.Second, time.Millisecond, "B must view A's write")
}

func TestViewOverL1WithoutViewer(t *testing.T) {
	ctx := testContext(t)
	c, err := New(getOnly{newLocal(t)}, newLocal(t), WithoutInvalidation())
	require.NoError(t, err)
	k := []byte("view")
	require.NoError(t, c.Set(ctx, k, []byte("v"), 0))
	warmL1(t, c, k, "v")

	first, found, err := c.View(ctx, k)
	require.NoError(t, err)
	require.True(t, found)
	second, _, err := c.View(ctx, k)
	require.NoError(t, err)
	assert.Equal(t, "v", string(first))
	assert.NotSame(t, &first[0], &second[0], "an L1 without View is read with Get, which copies")

	require.NoError(t, c.Close())
	_, _, err = c.View(ctx, k)
	assert.True(t, errors.Is(err, kv.ErrClosed), "got %v", err)
}

// getOnly hides every method of a kv.Client beyond the interface, View
// among them.
type getOnly struct{ kv.Client }
