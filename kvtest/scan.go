package kvtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

func testScanPrefix(t *testing.T, e *env) {
	const n = 120
	var want []string
	items := make([]kv.Item, 0, n+2)
	for i := range n {
		k := e.key(fmt.Sprintf("in:%03d", i))
		want = append(want, string(k))
		items = append(items, kv.Item{Key: k, Value: []byte("v")})
	}
	items = append(items, kv.Item{Key: e.key("out:1"), Value: []byte("v")}, kv.Item{Key: e.key("i"), Value: []byte("v")})
	require.NoError(t, e.c.MSet(ctx(t), items, 0))

	got := collectScan(t, e.c, e.key("in:"), 0)
	require.ElementsMatch(t, want, got, "Scan must yield each key with the prefix exactly once")

	got = collectScan(t, e.c, e.key("in:"), -1)
	require.Len(t, got, n, "a negative limit means no limit")

	require.Empty(t, collectScan(t, e.c, e.key("nothing:"), 0))
}

func testScanGlobCharacters(t *testing.T, e *env) {
	names := []string{"p*", "p*x", "p?", "pa", "p[ab]", "pb", `p\`, `p\x`, "p]", "px*"}
	for _, n := range names {
		require.NoError(t, e.c.Set(ctx(t), e.key(n), []byte("v"), 0))
	}

	cases := []struct {
		prefix string
		want   []string
	}{
		{"p*", []string{"p*", "p*x"}},
		{"p?", []string{"p?"}},
		{"p[ab]", []string{"p[ab]"}},
		{"p[", []string{"p[ab]"}},
		{`p\`, []string{`p\`, `p\x`}},
		{"p]", []string{"p]"}},
		{"px*", []string{"px*"}},
	}
	for _, tc := range cases {
		t.Run(tc.prefix, func(t *testing.T) {
			var want []string
			for _, w := range tc.want {
				want = append(want, string(e.key(w)))
			}
			got := collectScan(t, e.c, e.key(tc.prefix), 0)
			require.ElementsMatch(t, want, got, "glob characters in prefix %q must match only themselves", tc.prefix)
		})
	}
}

func testScanLimit(t *testing.T, e *env) {
	var items []kv.Item
	for i := range 30 {
		items = append(items, kv.Item{Key: e.key(fmt.Sprintf("%02d", i)), Value: []byte("v")})
	}
	require.NoError(t, e.c.MSet(ctx(t), items, 0))

	for _, limit := range []int{1, 7, 30, 100} {
		got := collectScan(t, e.c, []byte(e.prefix), limit)
		want := min(limit, len(items))
		require.Len(t, got, want, "Scan with limit %d", limit)
		seen := map[string]bool{}
		for _, k := range got {
			require.False(t, seen[k], "key %q yielded twice", k)
			seen[k] = true
		}
	}
}

func testScanEarlyBreak(t *testing.T, e *env) {
	var items []kv.Item
	for i := range 50 {
		items = append(items, kv.Item{Key: e.key(fmt.Sprintf("%02d", i)), Value: []byte("v")})
	}
	require.NoError(t, e.c.MSet(ctx(t), items, 0))

	for range 20 {
		n := 0
		for _, err := range e.c.Scan(ctx(t), []byte(e.prefix), 0) {
			require.NoError(t, err)
			n++
			if n == 3 {
				break
			}
		}
		require.Equal(t, 3, n)
	}

	// The client keeps working after abandoned scans.
	require.Len(t, collectScan(t, e.c, []byte(e.prefix), 0), len(items))
	requireValue(t, e.c, e.key("00"), "v")
}

func testScanSkipsDeletedAndExpired(t *testing.T, e *env) {
	require.NoError(t, e.c.Set(ctx(t), e.key("live"), []byte("v"), 0))
	require.NoError(t, e.c.Set(ctx(t), e.key("deleted"), []byte("v"), 0))
	require.NoError(t, e.c.Set(ctx(t), e.key("expiring"), []byte("v"), 50*time.Millisecond))
	_, err := e.c.Delete(ctx(t), e.key("deleted"))
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		keys := collectScan(t, e.c, []byte(e.prefix), 0)
		return len(keys) == 1
	}, 3*time.Second, 10*time.Millisecond, "the expired key stayed in Scan")
	assert.Equal(t, []string{string(e.key("live"))}, collectScan(t, e.c, []byte(e.prefix), 0))
}
