package local

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/stretchr/testify/require"
)

// The benchmarks put local beside raw ristretto on the same keys and values,
// so the overhead is a ratio that can be measured again on any machine:
//
//	go test -run '^$' -bench . -benchmem -count=3 ./local/

const (
	benchKeys      = 1 << 16
	benchValueSize = 128
)

// benchData returns benchKeys distinct keys and one value.
func benchData() ([][]byte, []byte) {
	keys := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("bench:key:%08d", i))
	}
	value := make([]byte, benchValueSize)
	for i := range value {
		value[i] = byte(i)
	}
	return keys, value
}

// newRawCache returns a ristretto cache configured as New configures its
// own for the default budget.
func newRawCache(b *testing.B) *ristretto.Cache[[]byte, []byte] {
	cfg, err := resolve(nil)
	require.NoError(b, err)
	cache, err := ristretto.NewCache(&ristretto.Config[[]byte, []byte]{
		NumCounters:        cfg.numCounters,
		MaxCost:            cfg.maxCost,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	require.NoError(b, err)
	b.Cleanup(cache.Close)
	return cache
}

// fillRaw stores a copy of value under key in cache with the cost local
// would charge, retrying while ristretto drops the write.
func fillRaw(cache *ristretto.Cache[[]byte, []byte], key, value []byte) {
	for {
		cache.Set(key, append([]byte(nil), value...), newEntry(key, value, 0).cost)
		cache.Wait()
		if _, found := cache.Get(key); found {
			return
		}
	}
}

func newBenchClient(b *testing.B) *Client {
	c, err := New()
	require.NoError(b, err)
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// measureCPU starts counting the process's CPU time and returns a function
// that reports it per operation as cpu-ns/op. CPU time counts the work of
// every goroutine, ristretto's and the garbage collector's included, and
// leaves out the time other processes take the cores, so on a shared
// machine it is steadier than ns/op.
func measureCPU(b *testing.B) (report func()) {
	start := processCPU()
	return func() {
		b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
	}
}

// startOffset gives each RunParallel goroutine its own walk through keys.
func startOffset() int {
	return rand.IntN(benchKeys)
}

func BenchmarkGet(b *testing.B) {
	keys, value := benchData()
	b.Run("local", func(b *testing.B) {
		c := newBenchClient(b)
		for _, k := range keys {
			require.NoError(b, c.Set(b.Context(), k, value, 0))
		}
		ctx := b.Context()
		b.ReportAllocs()
		b.ResetTimer()
		report := measureCPU(b)
		b.RunParallel(func(pb *testing.PB) {
			i := startOffset()
			for pb.Next() {
				v, found, err := c.Get(ctx, keys[i%benchKeys])
				if err != nil || !found || len(v) != benchValueSize {
					b.Fatalf("get: found=%v err=%v", found, err)
				}
				i++
			}
		})
		report()
	})
	b.Run("ristretto", func(b *testing.B) {
		cache := newRawCache(b)
		for _, k := range keys {
			fillRaw(cache, k, value)
		}
		b.ReportAllocs()
		b.ResetTimer()
		report := measureCPU(b)
		b.RunParallel(func(pb *testing.PB) {
			i := startOffset()
			for pb.Next() {
				v, found := cache.Get(keys[i%benchKeys])
				if !found || len(v) != benchValueSize {
					b.Fatalf("get: found=%v", found)
				}
				i++
			}
		})
		report()
	})
}

// BenchmarkGetPaired runs local's Get and ristretto's Get on the same data
// in alternating slices of pairedSlice calls, so that noise from other
// processes falls on both alike. It reports, for each, the wall time and
// the CPU time of the calling thread per call, and the ratios local over
// ristretto. The CPU figures leave out time lost to other processes. They
// also leave out the garbage collector's background work, which local's
// copy of each value causes, and which the wall figures include.
func BenchmarkGetPaired(b *testing.B) {
	keys, value := benchData()
	c := newBenchClient(b)
	ctx := b.Context()
	cache := newRawCache(b)
	for _, k := range keys {
		require.NoError(b, c.Set(ctx, k, value, 0))
		fillRaw(cache, k, value)
	}
	getLocal := func(key []byte) bool {
		_, found, _ := c.Get(ctx, key)
		return found
	}
	getRaw := func(key []byte) bool {
		_, found := cache.Get(key)
		return found
	}

	var local, raw pairedTotals
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Pinning the goroutine to its thread makes threadCPU its CPU time.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		i := startOffset()
		for round := 0; ; round++ {
			get, totals := getLocal, &local
			if round%2 == 1 {
				get, totals = getRaw, &raw
			}
			wallStart, cpuStart := time.Now(), threadCPU()
			n := 0
			for ; n < pairedSlice && pb.Next(); n++ {
				if !get(keys[i%benchKeys]) {
					b.Fatal("get missed")
				}
				i++
			}
			totals.add(n, time.Since(wallStart), threadCPU()-cpuStart)
			if n < pairedSlice {
				return
			}
		}
	})
	if local.calls.Load() == 0 || raw.calls.Load() == 0 {
		return
	}
	b.ReportMetric(local.wallPerCall(), "local-wall-ns/get")
	b.ReportMetric(raw.wallPerCall(), "ristretto-wall-ns/get")
	b.ReportMetric(local.wallPerCall()/raw.wallPerCall(), "wall-ratio")
	b.ReportMetric(local.cpuPerCall(), "local-cpu-ns/get")
	b.ReportMetric(raw.cpuPerCall(), "ristretto-cpu-ns/get")
	b.ReportMetric(local.cpuPerCall()/raw.cpuPerCall(), "cpu-ratio")
}

// pairedSlice is the number of calls BenchmarkGetPaired makes before it
// switches sides: enough for the CPU clock's microsecond resolution.
const pairedSlice = 2048

// pairedTotals sums one side of BenchmarkGetPaired over its goroutines.
type pairedTotals struct {
	calls, wall, cpu atomic.Int64
}

func (p *pairedTotals) add(calls int, wall, cpu time.Duration) {
	p.calls.Add(int64(calls))
	p.wall.Add(int64(wall))
	p.cpu.Add(int64(cpu))
}

func (p *pairedTotals) wallPerCall() float64 {
	return float64(p.wall.Load()) / float64(p.calls.Load())
}

func (p *pairedTotals) cpuPerCall() float64 {
	return float64(p.cpu.Load()) / float64(p.calls.Load())
}

// BenchmarkSet writes new keys, for which each Set waits for ristretto's
// policy goroutine, and existing keys, which ristretto updates in place.
// Beside them, ristretto's Set alone on new and existing keys, and followed
// by Wait on new keys.
func BenchmarkSet(b *testing.B) {
	keys, value := benchData()
	var fresh atomic.Int64
	freshKey := func() []byte { return []byte(fmt.Sprintf("bench:new:%012d", fresh.Add(1))) }

	b.Run("local/new", func(b *testing.B) {
		c := newBenchClient(b)
		ctx := b.Context()
		b.ReportAllocs()
		report := measureCPU(b)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := c.Set(ctx, freshKey(), value, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		report()
	})
	b.Run("local/existing", func(b *testing.B) {
		c := newBenchClient(b)
		ctx := b.Context()
		for _, k := range keys {
			require.NoError(b, c.Set(ctx, k, value, 0))
		}
		b.ReportAllocs()
		b.ResetTimer()
		report := measureCPU(b)
		b.RunParallel(func(pb *testing.PB) {
			i := startOffset()
			for pb.Next() {
				if err := c.Set(ctx, keys[i%benchKeys], value, 0); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		report()
	})
	b.Run("ristretto/new", func(b *testing.B) {
		cache := newRawCache(b)
		b.ReportAllocs()
		report := measureCPU(b)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				cache.Set(freshKey(), append([]byte(nil), value...), benchValueSize+entryOverhead)
			}
		})
		report()
	})
	b.Run("ristretto/existing", func(b *testing.B) {
		cache := newRawCache(b)
		for _, k := range keys {
			fillRaw(cache, k, value)
		}
		b.ReportAllocs()
		b.ResetTimer()
		report := measureCPU(b)
		b.RunParallel(func(pb *testing.PB) {
			i := startOffset()
			for pb.Next() {
				cache.Set(keys[i%benchKeys], append([]byte(nil), value...), benchValueSize+entryOverhead)
				i++
			}
		})
		report()
	})
	b.Run("ristretto/new+wait", func(b *testing.B) {
		cache := newRawCache(b)
		b.ReportAllocs()
		report := measureCPU(b)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				cache.Set(freshKey(), append([]byte(nil), value...), benchValueSize+entryOverhead)
				cache.Wait()
			}
		})
		report()
	})
}

func BenchmarkIncr(b *testing.B) {
	keys, _ := benchData()
	keys = keys[:1024]
	c := newBenchClient(b)
	ctx := b.Context()
	b.ReportAllocs()
	report := measureCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		i := startOffset()
		for pb.Next() {
			if _, err := c.Incr(ctx, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	report()
}

// BenchmarkGate compares what every Get does to stay out of Close's way
// and count a hit, with the client's striped gate and with one RWMutex and
// one counter shared by all goroutines.
func BenchmarkGate(b *testing.B) {
	b.Run("striped", func(b *testing.B) {
		c := newBenchClient(b)
		ctx := b.Context()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				g, err := c.enter(ctx)
				if err != nil {
					b.Fatal(err)
				}
				g.hits.Add(1)
				g.mu.RUnlock()
			}
		})
	})
	b.Run("single", func(b *testing.B) {
		var mu sync.RWMutex
		var hits atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.RLock()
				hits.Add(1)
				mu.RUnlock()
			}
		})
	})
}

// BenchmarkSweep measures one pass of the expiry sweeper over a cache of
// benchKeys entries, none of them expired, and reports it per entry.
func BenchmarkSweep(b *testing.B) {
	keys, value := benchData()
	c := newBenchClient(b)
	for _, k := range keys {
		require.NoError(b, c.Set(b.Context(), k, value, time.Hour))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c.removeExpired()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchKeys, "ns/entry")
}
