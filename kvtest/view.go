package kvtest

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

// testView holds a client that implements kv.Viewer to the rules of Get,
// and to View's own: the slice is never nil for a found key, its capacity
// is its length, and a later write leaves it as it was. Each read is made
// twice, because a cache may serve the first from its backing store and
// the second from memory.
func testView(t *testing.T, e *env) {
	v, ok := e.c.(kv.Viewer)
	if !ok {
		t.Skipf("%T does not implement kv.Viewer", e.c)
	}
	view := func(key []byte) ([]byte, bool) {
		t.Helper()
		value, found, err := v.View(ctx(t), key)
		require.NoError(t, err, "View(%q)", key)
		return value, found
	}

	value, found := view(e.key("missing"))
	assert.False(t, found, "View of a missing key")
	assert.Nil(t, value, "View of a missing key")

	large := bytes.Repeat([]byte{0, 0xff, 'x'}, 1<<20/3)
	cases := []struct {
		name       string
		key, value []byte
	}{
		{"plain", e.key("plain"), []byte("v1")},
		{"empty value", e.key("empty"), []byte{}},
		{"binary", e.key("bin\x00\xff"), []byte{0, 0xff, 0xfe, '\n'}},
		{"1 MiB", e.key("large"), large},
	}
	for _, tc := range cases {
		require.NoError(t, e.c.Set(ctx(t), tc.key, tc.value, 0), tc.name)
		for read := range 2 {
			got, found := view(tc.key)
			require.True(t, found, "%s, read %d", tc.name, read)
			assert.NotNil(t, got, "%s, read %d: a found value is never nil", tc.name, read)
			assert.True(t, bytes.Equal(tc.value, got), "%s, read %d: wrong value", tc.name, read)
			assert.Equal(t, len(got), cap(got), "%s, read %d: capacity beyond the value", tc.name, read)
		}
	}

	k := e.key("plain")
	before, _ := view(k)
	require.NoError(t, e.c.Set(ctx(t), k, []byte("v2"), 0))
	assert.Equal(t, "v1", string(before), "a write changed bytes viewed before it")
	assert.Eventually(t, func() bool {
		after, _ := view(k)
		return string(after) == "v2"
	}, 2*time.Second, time.Millisecond, "View does not return the new value")

	expiring := e.key("expiring")
	deadline := time.Now().Add(100 * time.Millisecond)
	require.NoError(t, e.c.Set(ctx(t), expiring, []byte("x"), 100*time.Millisecond))
	view(expiring)
	waitUntil(deadline.Add(50 * time.Millisecond))
	_, found = view(expiring)
	assert.False(t, found, "View returned an expired key")
}
