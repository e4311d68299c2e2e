package local

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// liveHeap returns the bytes of live heap objects after full collections.
// The second collection frees what sync.Pool let go of in the first.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestMemoryBudget writes ten times the budget and checks that the heap the
// client holds stays within the budget plus the overhead stated in
// docs/local.md. The entries may exceed the budget by a share because Go
// maps grow by doubling, and the fixed cost per entry is only their
// average.
func TestMemoryBudget(t *testing.T) {
	cases := []struct {
		name      string
		budget    int64
		valueSize int
	}{
		{"small values", 1 << 20, 64},
		{"1 KiB values", 4 << 20, 1024},
		{"16 KiB values", 4 << 20, 16 << 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := liveHeap()
			c, err := New(WithMaxCost(tc.budget))
			require.NoError(t, err)
			empty := liveHeap()

			value := make([]byte, tc.valueSize)
			var written int64
			for i := 0; written < 10*tc.budget; i++ {
				key := []byte(fmt.Sprintf("mem:%010d", i))
				require.NoError(t, c.Set(t.Context(), key, value, 0))
				written += int64(len(key) + len(value))
			}
			full := liveHeap()
			stats := c.Stats()
			require.NoError(t, c.Close())

			fixed := int64(empty - before)
			entries := int64(full) - int64(empty)
			t.Logf("budget %d KiB: fixed %d KiB, entries %d KiB (%.3f of the budget), charged cost %d KiB",
				tc.budget>>10, fixed>>10, entries>>10, float64(entries)/float64(tc.budget), stats.Cost>>10)
			assert.LessOrEqual(t, stats.Cost, tc.budget, "charged cost")
			assert.LessOrEqual(t, entries, tc.budget+tc.budget/8, "heap of the entries: budget plus 12.5%")
			assert.LessOrEqual(t, fixed, int64(1<<20), "fixed structures of a small budget")
		})
	}
}
