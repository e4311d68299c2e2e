package remote_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

func TestScanClusterCoversEveryMaster(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, clusterConfig())
	prefix := uniqueKey(t, "p") + ":"
	var items []kv.Item
	var want []string
	for i := range 300 {
		k := fmt.Sprintf("%s%03d", prefix, i)
		items = append(items, kv.Item{Key: []byte(k), Value: []byte("v")})
		want = append(want, k)
	}
	require.NoError(t, c.MSet(ctx, items, 0))
	// Another prefix that must not show up.
	require.NoError(t, c.Set(ctx, []byte(uniqueKey(t, "other")), []byte("v"), 0))

	for _, n := range clusterServers.Nodes {
		out, err := n.CLI("DBSIZE")
		require.NoError(t, err)
		assert.NotEqual(t, "0\n", out, "node %s holds none of the keys", n.Addr())
	}

	var got []string
	for k, err := range c.Scan(ctx, []byte(prefix), 0) {
		require.NoError(t, err)
		got = append(got, string(k))
	}
	slices.Sort(got)
	assert.Equal(t, want, got)
}

func TestScanLimitAndBreak(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := testContext(t)
			c := newClient(t, mode.config())
			prefix := uniqueKey(t, "p") + "[*]?\\"
			var items []kv.Item
			for i := range 2500 {
				items = append(items, kv.Item{Key: []byte(fmt.Sprintf("%s%04d", prefix, i)), Value: []byte("v")})
			}
			require.NoError(t, c.MSet(ctx, items, 0))
			// A key the unescaped pattern would match.
			require.NoError(t, c.Set(ctx, []byte(prefix[:len(prefix)-5]+"X"), []byte("v"), 0))

			seen := map[string]bool{}
			for k, err := range c.Scan(ctx, []byte(prefix), 0) {
				require.NoError(t, err)
				require.False(t, seen[string(k)], "key %q yielded twice", k)
				seen[string(k)] = true
			}
			assert.Len(t, seen, 2500)

			count := 0
			for _, err := range c.Scan(ctx, []byte(prefix), 1200) {
				require.NoError(t, err)
				count++
			}
			assert.Equal(t, 1200, count, "limit spans several SCAN steps")

			count = 0
			for _, err := range c.Scan(ctx, []byte(prefix), 0) {
				require.NoError(t, err)
				count++
				if count == 3 {
					break
				}
			}
			assert.Equal(t, 3, count)
			// The client still works after an early break.
			_, _, err := c.Get(ctx, items[0].Key)
			require.NoError(t, err)
		})
	}
}
