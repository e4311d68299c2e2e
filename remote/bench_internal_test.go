package remote

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWrapperPath measures the work Client.Get adds to GLIDE's, on
// every core and without GLIDE: the in-flight slot, the registration Close
// waits for, the key's string view, and the copy of a 100-byte value. With
// ctx=background the caller's context never ends, so the request runs in
// the caller's goroutine. With ctx=deadline each goroutine's context has a
// deadline, so every request runs in a goroutine of its own (see do).
// Compare it with the ns/op of BenchmarkGet.
func BenchmarkWrapperPath(b *testing.B) {
	cases := []struct {
		name     string
		deadline bool
	}{
		{"ctx=background", false},
		{"ctx=deadline", true},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c := &Client{
				cfg:   Config{RequestTimeout: DefaultRequestTimeout},
				slots: make(chan struct{}, DefaultMaxInFlight),
				done:  make(chan struct{}),
			}
			key := []byte("bench:key")
			value := string(make([]byte, 100))
			var sink atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				if tc.deadline {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, time.Hour)
					defer cancel()
				}
				for pb.Next() {
					err := c.do(ctx, true, func(g context.Context) error {
						if g.Done() != nil {
							b.Error("GLIDE would get a context that can end")
						}
						k := str(key)
						v := []byte(value)
						v[0]++ // a written copy cannot share the string's memory
						sink.Add(int64(len(k) + len(v)))
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
