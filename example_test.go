package kv_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/local"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Code written against kv.Client runs on any tier; this one uses the
// in-process tier, which needs no server.
func Example() {
	ctx := context.Background()
	c, err := local.New(local.WithMaxCost(16 << 20))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	var cache kv.Client = c
	if err := cache.Set(ctx, []byte("greeting"), []byte("hello"), time.Minute); err != nil {
		fmt.Println(err)
		return
	}
	v, found, err := cache.Get(ctx, []byte("greeting"))
	fmt.Println(string(v), found, err)

	n, _ := cache.Incr(ctx, []byte("visits"))
	n, _ = cache.Incr(ctx, []byte("visits"))
	fmt.Println(n)

	_ = cache.Set(ctx, []byte("name"), []byte("kv"), 0)
	_, err = cache.Incr(ctx, []byte("name"))
	fmt.Println(errors.Is(err, kv.ErrNotInteger))

	err = cache.Set(ctx, []byte("k"), []byte("v"), -time.Second)
	fmt.Println(errors.Is(err, kv.ErrInvalidTTL))
	// Output:
	// hello true <nil>
	// 2
	// true
	// true
}
