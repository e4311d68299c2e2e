package remote_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	glide "github.com/valkey-io/valkey-glide/go/v2"
)

// The benchmarks run each operation through remote.Client and through the
// raw GLIDE client it wraps, on the same standalone server, with the same
// keys and 100-byte values, so that the pair shows what the wrapper costs.
// Concurrency is the number of goroutines issuing requests.

const benchKeys = 1000

var benchConcurrency = []int{1, 16, 64}

func benchKeyNames() ([]string, [][]byte) {
	names := make([]string, benchKeys)
	keys := make([][]byte, benchKeys)
	for i := range names {
		names[i] = "bench:" + strconv.Itoa(i)
		keys[i] = []byte(names[i])
	}
	return names, keys
}

func BenchmarkGet(b *testing.B) {
	ours, raw := benchClients(b)
	names, keys := benchKeyNames()
	value := make([]byte, 100)
	for _, k := range keys {
		require.NoError(b, ours.Set(context.Background(), k, value, 0))
	}
	for _, conc := range benchConcurrency {
		b.Run(fmt.Sprintf("conc=%d/remote", conc), func(b *testing.B) {
			runConcurrent(b, conc, func(ctx context.Context, i int) error {
				_, _, err := ours.Get(ctx, keys[i%benchKeys])
				return err
			})
		})
		b.Run(fmt.Sprintf("conc=%d/glide", conc), func(b *testing.B) {
			runConcurrent(b, conc, func(ctx context.Context, i int) error {
				_, err := raw.Get(ctx, names[i%benchKeys])
				return err
			})
		})
	}
}

func BenchmarkSet(b *testing.B) {
	ours, raw := benchClients(b)
	names, keys := benchKeyNames()
	value := make([]byte, 100)
	valueString := string(value)
	for _, conc := range benchConcurrency {
		b.Run(fmt.Sprintf("conc=%d/remote", conc), func(b *testing.B) {
			runConcurrent(b, conc, func(ctx context.Context, i int) error {
				return ours.Set(ctx, keys[i%benchKeys], value, 0)
			})
		})
		b.Run(fmt.Sprintf("conc=%d/glide", conc), func(b *testing.B) {
			runConcurrent(b, conc, func(ctx context.Context, i int) error {
				_, err := raw.Set(ctx, names[i%benchKeys], valueString)
				return err
			})
		})
	}
}

// benchClients returns a remote.Client and a separate raw GLIDE client on
// the shared standalone server, so that neither shares a connection with
// the other.
func benchClients(b *testing.B) (ours interface {
	Get(context.Context, []byte) ([]byte, bool, error)
	Set(context.Context, []byte, []byte, time.Duration) error
}, raw *glide.Client) {
	b.Helper()
	cfg := standaloneConfig()
	c := newClient(b, cfg)
	other := newClient(b, cfg)
	return c, other.Standalone()
}

// runConcurrent calls op b.N times in total from conc goroutines.
func runConcurrent(b *testing.B, conc int, op func(ctx context.Context, i int) error) {
	b.ReportAllocs()
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := op(ctx, i); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPaired runs the remote and raw GLIDE sides in alternating
// chunks of a few milliseconds within one benchmark, so that load from
// other processes on a shared machine falls on both sides alike. It reports
// each side's time per operation and ours/raw, the median over chunk pairs
// of the throughput ratio (1.00 means no cost; 0.95 means the wrapper costs
// 5% of throughput). Which side runs first alternates between pairs.
func BenchmarkPaired(b *testing.B) {
	ours, raw := benchClients(b)
	names, keys := benchKeyNames()
	value := make([]byte, 100)
	valueString := string(value)
	for _, k := range keys {
		require.NoError(b, ours.Set(context.Background(), k, value, 0))
	}
	type side func(ctx context.Context, i int) error
	ops := []struct {
		name        string
		ours, glide side
	}{
		{
			"Get",
			func(ctx context.Context, i int) error { _, _, err := ours.Get(ctx, keys[i%benchKeys]); return err },
			func(ctx context.Context, i int) error { _, err := raw.Get(ctx, names[i%benchKeys]); return err },
		},
		{
			"Set",
			func(ctx context.Context, i int) error { return ours.Set(ctx, keys[i%benchKeys], value, 0) },
			func(ctx context.Context, i int) error {
				_, err := raw.Set(ctx, names[i%benchKeys], valueString)
				return err
			},
		},
		{
			// Get under a context that can end, as a request-scoped one
			// can. Both sides create it, so only the wrapper's work on it
			// counts in ours/raw.
			"GetDeadline",
			func(ctx context.Context, i int) error {
				ctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				_, _, err := ours.Get(ctx, keys[i%benchKeys])
				return err
			},
			func(ctx context.Context, i int) error {
				ctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				_, err := raw.Get(ctx, names[i%benchKeys])
				return err
			},
		},
	}
	for _, op := range ops {
		for _, conc := range benchConcurrency {
			b.Run(fmt.Sprintf("%s/conc=%d", op.name, conc), func(b *testing.B) {
				b.ReportAllocs()
				chunk := max(100, 8*conc)
				var oursTime, glideTime time.Duration
				var ratios []float64
				for done, pair := 0, 0; done < b.N; done, pair = done+chunk, pair+1 {
					n := min(chunk, b.N-done)
					var o, g time.Duration
					if pair%2 == 0 {
						o = timeChunk(b, conc, n, op.ours)
						g = timeChunk(b, conc, n, op.glide)
					} else {
						g = timeChunk(b, conc, n, op.glide)
						o = timeChunk(b, conc, n, op.ours)
					}
					oursTime += o
					glideTime += g
					ratios = append(ratios, g.Seconds()/o.Seconds())
				}
				slices.Sort(ratios)
				b.ReportMetric(float64(oursTime.Nanoseconds())/float64(b.N), "ours-ns/op")
				b.ReportMetric(float64(glideTime.Nanoseconds())/float64(b.N), "raw-ns/op")
				b.ReportMetric(ratios[len(ratios)/2], "ours/raw")
			})
		}
	}
}

// timeChunk runs op n times from conc goroutines and returns the wall time.
func timeChunk(b *testing.B, conc, n int, op func(ctx context.Context, i int) error) time.Duration {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := op(ctx, i); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return elapsed
}
