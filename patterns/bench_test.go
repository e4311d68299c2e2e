package patterns_test

import (
	"context"
	"testing"
	"time"

	"github.com/derp-kv/kv/patterns"
)

// benchBackends are the standalone server and local: the cluster adds only
// a routing step to the same commands.
func benchBackends() []backend {
	return []backend{remoteBackends()[0], {name: "local", connect: connectLocal}}
}

// BenchmarkRateLimit puts each algorithm beside the plain Incr it builds on,
// with a limit high enough that every call is allowed.
func BenchmarkRateLimit(b *testing.B) {
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			c := be.connect(b)
			b.Run("Incr", func(b *testing.B) {
				key := []byte(uniqueKey(b))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.Incr(ctx, key); err != nil {
						b.Fatal(err)
					}
				}
			})
			for _, alg := range algorithms {
				b.Run(alg.name, func(b *testing.B) {
					key := uniqueKey(b)
					b.ReportAllocs()
					for b.Loop() {
						if _, err := patterns.RateLimit(ctx, c, key, 1<<30, time.Hour, patterns.WithAlgorithm(alg.algorithm)); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkGuardedGetHit puts a GuardedGet that finds its key beside a
// plain Get of the same key.
func BenchmarkGuardedGetHit(b *testing.B) {
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			c := be.connect(b)
			key := []byte(uniqueKey(b))
			if err := c.Set(ctx, key, []byte("value"), time.Hour); err != nil {
				b.Fatal(err)
			}
			compute := func(context.Context) ([]byte, error) { return []byte("value"), nil }
			b.Run("Get", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := c.Get(ctx, key); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("GuardedGet", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := patterns.GuardedGet(ctx, c, key, time.Hour, compute); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
