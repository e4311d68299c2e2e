package tiered

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

// The benchmarks put the tiered client beside what it is built from, in one
// run: an L1 hit beside local.Client and raw ristretto, a miss beside
// remote.Client, batched misses beside unbatched ones.

var benchValue = []byte("a value of about the size of a small cached object, 64 bytes....")

func BenchmarkL1Hit(b *testing.B) {
	ctx := context.Background()
	key := []byte("bench:hit")

	// View is Get without the copy.
	for _, name := range []string{"tiered", "tiered-view"} {
		b.Run(name, func(b *testing.B) {
			c := newClient(b, newRemote(b, standaloneConfig()))
			read := c.Get
			if name == "tiered-view" {
				read = c.View
			}
			require.NoError(b, c.Set(ctx, key, benchValue, 0))
			warmL1(b, c, key, string(benchValue))
			hits := c.Stats().L1Hits
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := read(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
			if c.Stats().L1Hits-hits < uint64(b.N) {
				b.Fatal("some reads missed L1")
			}
		})
	}
	b.Run("local", func(b *testing.B) {
		l := newLocal(b)
		defer l.Close()
		require.NoError(b, l.Set(ctx, key, benchValue, 0))
		b.ReportAllocs()
		for b.Loop() {
			if _, found, _ := l.Get(ctx, key); !found {
				b.Fatal("miss")
			}
		}
	})
	// Entries in a tiered L1 always expire (at the L1 TTL cap at the
	// latest), and local reads the clock on every hit of an expiring entry.
	b.Run("local-expiring", func(b *testing.B) {
		l := newLocal(b)
		defer l.Close()
		require.NoError(b, l.Set(ctx, key, benchValue, time.Hour))
		b.ReportAllocs()
		for b.Loop() {
			if _, found, _ := l.Get(ctx, key); !found {
				b.Fatal("miss")
			}
		}
	})
	// Raw ristretto three ways. "ristretto" is its fastest case: no expiry,
	// and the stored slice returned as is. "ristretto-expiring" holds an
	// entry with a TTL, so its Get reads the clock as any L1 with a TTL cap
	// must. "ristretto-copy" adds the copy that kv's contract requires of
	// every Get.
	b.Run("ristretto", func(b *testing.B) {
		r := newRawRistretto(b, key, benchValue, 0)
		b.ReportAllocs()
		for b.Loop() {
			if _, found := r.Get(key); !found {
				b.Fatal("miss")
			}
		}
	})
	b.Run("ristretto-expiring", func(b *testing.B) {
		r := newRawRistretto(b, key, benchValue, time.Hour)
		b.ReportAllocs()
		for b.Loop() {
			if _, found := r.Get(key); !found {
				b.Fatal("miss")
			}
		}
	})
	b.Run("ristretto-copy", func(b *testing.B) {
		r := newRawRistretto(b, key, benchValue, 0)
		b.ReportAllocs()
		for b.Loop() {
			v, found := r.Get(key)
			if !found {
				b.Fatal("miss")
			}
			benchSink = bytes.Clone(v)
		}
	})
}

// benchSink keeps the compiler from dropping a copy that is never read.
var benchSink []byte

// newRawRistretto returns a ristretto cache holding value under key, with
// ttl (0 for none), closed when b ends.
func newRawRistretto(b *testing.B, key, value []byte, ttl time.Duration) *ristretto.Cache[[]byte, []byte] {
	r, err := ristretto.NewCache(&ristretto.Config[[]byte, []byte]{NumCounters: 1e6, MaxCost: 64 << 20, BufferItems: 64})
	require.NoError(b, err)
	b.Cleanup(r.Close)
	for {
		r.SetWithTTL(key, value, int64(len(value)), ttl)
		r.Wait()
		if _, found := r.Get(key); found {
			return r
		}
	}
}

// BenchmarkL1HitLarge reads one 64 KiB value that is in L1, where the copy
// that Get makes is most of the cost of a hit and View skips it.
func BenchmarkL1HitLarge(b *testing.B) {
	ctx := context.Background()
	key := []byte("bench:large")
	value := bytes.Repeat([]byte("x"), 64<<10)
	c := newClient(b, newRemote(b, standaloneConfig()))
	require.NoError(b, c.Set(ctx, key, value, 0))
	warmL1(b, c, key, string(value))

	for _, tc := range []struct {
		name string
		read func(context.Context, []byte) ([]byte, bool, error)
	}{
		{"get", c.Get},
		{"view", c.View},
	} {
		b.Run(tc.name, func(b *testing.B) {
			hits := c.Stats().L1Hits
			b.ReportAllocs()
			for b.Loop() {
				v, _, err := tc.read(ctx, key)
				if err != nil || len(v) != len(value) {
					b.Fatal(err, len(v))
				}
			}
			if c.Stats().L1Hits-hits < uint64(b.N) {
				b.Fatal("some reads missed L1")
			}
		})
	}
	b.Run("ristretto", func(b *testing.B) {
		r := newRawRistretto(b, key, value, 0)
		b.ReportAllocs()
		for b.Loop() {
			if _, found := r.Get(key); !found {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkL1HitMGet reads 16 keys that are all in L1, with one MGet and
// with a Get per key.
func BenchmarkL1HitMGet(b *testing.B) {
	ctx := context.Background()
	c := newClient(b, newRemote(b, standaloneConfig()))
	keys := make([][]byte, 16)
	for i := range keys {
		keys[i] = []byte("bench:mget:" + strconv.Itoa(i))
		require.NoError(b, c.Set(ctx, keys[i], benchValue, 0))
		warmL1(b, c, keys[i], string(benchValue))
	}

	b.Run("mget", func(b *testing.B) {
		hits := c.Stats().L1Hits
		b.ReportAllocs()
		for b.Loop() {
			values, err := c.MGet(ctx, keys)
			if err != nil || values[len(keys)-1] == nil {
				b.Fatal(err)
			}
		}
		if c.Stats().L1Hits-hits < uint64(b.N*len(keys)) {
			b.Fatal("some keys missed L1")
		}
	})
	b.Run("get-each", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, k := range keys {
				if _, found, err := c.Get(ctx, k); err != nil || !found {
					b.Fatal(err, found)
				}
			}
		}
	})
}

// BenchmarkL1HitParallel is BenchmarkL1Hit with every core reading the same
// hot key, where shared counters and locks show their contention.
func BenchmarkL1HitParallel(b *testing.B) {
	ctx := context.Background()
	key := []byte("bench:hit")
	parallel := func(b *testing.B, get func() bool) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if !get() {
					b.Error("miss")
					return
				}
			}
		})
	}

	b.Run("tiered", func(b *testing.B) {
		c := newClient(b, newRemote(b, standaloneConfig()))
		require.NoError(b, c.Set(ctx, key, benchValue, 0))
		warmL1(b, c, key, string(benchValue))
		parallel(b, func() bool {
			_, found, err := c.Get(ctx, key)
			return err == nil && found
		})
	})
	b.Run("local", func(b *testing.B) {
		l := newLocal(b)
		defer l.Close()
		require.NoError(b, l.Set(ctx, key, benchValue, 0))
		parallel(b, func() bool {
			_, found, _ := l.Get(ctx, key)
			return found
		})
	})
	b.Run("ristretto", func(b *testing.B) {
		r := newRawRistretto(b, key, benchValue, 0)
		parallel(b, func() bool {
			_, found := r.Get(key)
			return found
		})
	})
}

// BenchmarkMiss measures one Get that misses L1 and finds the key in L2,
// beside a plain remote Get of the same key and beside the L2 read a miss
// makes. Each tiered iteration first drops the key from L1, which costs well
// under a microsecond.
func BenchmarkMiss(b *testing.B) {
	ctx := context.Background()
	key := []byte("bench:miss")

	b.Run("tiered", func(b *testing.B) {
		c := newClient(b, newRemote(b, standaloneConfig()))
		require.NoError(b, c.Set(ctx, key, benchValue, time.Hour))
		b.ReportAllocs()
		for b.Loop() {
			c.drop(key)
			if _, found, err := c.Get(ctx, key); err != nil || !found {
				b.Fatal(err, found)
			}
		}
	})
	b.Run("remote", func(b *testing.B) {
		r := newRemote(b, standaloneConfig())
		defer r.Close()
		require.NoError(b, r.Set(ctx, key, benchValue, time.Hour))
		b.ReportAllocs()
		for b.Loop() {
			if _, found, err := r.Get(ctx, key); err != nil || !found {
				b.Fatal(err, found)
			}
		}
	})
	// The read a miss makes: value and remaining TTL in one round trip.
	b.Run("remote-MGetWithTTL", func(b *testing.B) {
		r := newRemote(b, standaloneConfig())
		defer r.Close()
		require.NoError(b, r.Set(ctx, key, benchValue, time.Hour))
		keys := [][]byte{key}
		b.ReportAllocs()
		for b.Loop() {
			if values, _, err := r.MGetWithTTL(ctx, keys); err != nil || values[0] == nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkConcurrentMisses runs 32 goroutines per core, each reading keys
// that no other goroutine reads and that are absent from L2, so every Get is an L2
// read. Batched, the coordinator's workers turn the misses waiting behind a
// read into one MGET; unbatched, each miss is a one-key MGET, with 8 workers
// × 8 reads in flight, one per goroutine on 2 cores. remote is the same load
// on a plain remote client.
func BenchmarkConcurrentMisses(b *testing.B) {
	ctx := context.Background()
	var next atomic.Uint64
	run := func(b *testing.B, get func(key []byte) error) {
		b.ReportAllocs()
		b.SetParallelism(32)
		b.RunParallel(func(pb *testing.PB) {
			key := make([]byte, 0, 32)
			for pb.Next() {
				key = strconv.AppendUint(append(key[:0], "bench:absent:"...), next.Add(1), 10)
				if err := get(key); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"batched", nil},
		{"batched-2-reads-per-worker", []Option{WithBatching(128, 2)}},
		{"unbatched", []Option{WithBatching(1, 8)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := newClient(b, newRemote(b, standaloneConfig()), tc.opts...)
			run(b, func(key []byte) error {
				_, _, err := c.Get(ctx, key)
				return err
			})
			s := c.Stats()
			b.ReportMetric(float64(s.FetchedKeys)/float64(max(s.Fetches, 1)), "keys/read")
		})
	}
	b.Run("remote", func(b *testing.B) {
		r := newRemote(b, standaloneConfig())
		defer r.Close()
		run(b, func(key []byte) error {
			_, _, err := r.Get(ctx, key)
			return err
		})
	})
}

// notifyingSubscriber reports when the handler has applied an invalidation
// from another client.
type notifyingSubscriber struct {
	kv.Client
	sub     kv.Subscriber
	applied chan time.Time
}

func (n *notifyingSubscriber) Publish(ctx context.Context, channel string, message []byte) error {
	return n.Client.(kv.Publisher).Publish(ctx, channel, message)
}

func (n *notifyingSubscriber) Subscribe(ctx context.Context, channel string, handler func([]byte)) (kv.Subscription, error) {
	return n.sub.Subscribe(ctx, channel, func(msg []byte) {
		handler(msg)
		if len(msg) > 0 && msg[0] == msgInvalidate {
			n.applied <- time.Now()
		}
	})
}

// BenchmarkInvalidationDelay measures, on loopback, the time from the start
// of a Set on client A to the moment client B has dropped the key from L1,
// and reports its median and 99th percentile.
func BenchmarkInvalidationDelay(b *testing.B) {
	ctx := context.Background()
	cfg := standaloneConfig()
	a := newClient(b, newRemote(b, cfg), WithHeartbeat(time.Hour, 3))
	r := newRemote(b, cfg)
	n := &notifyingSubscriber{Client: r, sub: r, applied: make(chan time.Time, 1)}
	bc := newClient(b, n, WithHeartbeat(time.Hour, 3))
	key := []byte("bench:delay")
	require.NoError(b, a.Set(ctx, key, benchValue, 0))
	<-n.applied

	delays := make([]time.Duration, 0, b.N)
	var mu sync.Mutex
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if err := a.Set(ctx, key, benchValue, 0); err != nil {
			b.Fatal(err)
		}
		done := <-n.applied
		mu.Lock()
		delays = append(delays, done.Sub(start))
		mu.Unlock()
	}
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds()), "p99-µs")
	_ = bc
}
