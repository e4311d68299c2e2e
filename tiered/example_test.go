package tiered_test

import (
	"context"
	"fmt"
	"time"

	"github.com/derp-kv/kv/local"
	"github.com/derp-kv/kv/remote"
	"github.com/derp-kv/kv/tiered"
)

// Two local tiers make a tiered client that needs no server: useful in tests
// of code written against kv.Client. Without pub/sub on L2, invalidation
// across processes must be turned off.
func Example_local() {
	ctx := context.Background()
	l1, _ := local.New(local.WithMaxCost(1 << 20))
	l2, _ := local.New(local.WithMaxCost(16 << 20))
	c, err := tiered.New(l1, l2, tiered.WithoutInvalidation())
	if err != nil {
		panic(err)
	}
	defer c.Close() // closes l1 and l2 too

	v, _ := c.GetOrCompute(ctx, []byte("greeting"), time.Minute, func(context.Context) ([]byte, error) {
		return []byte("hello"), nil
	})
	fmt.Println(string(v))

	_ = c.Set(ctx, []byte("greeting"), []byte("bonjour"), 0)
	v, found, _ := c.Get(ctx, []byte("greeting"))
	fmt.Println(string(v), found)
	// Output:
	// hello
	// bonjour true
}

// In production L2 is Valkey, and every process that shares it runs its own
// tiered client: a write in one drops the key from the L1 of all others.
func Example_valkey() {
	ctx := context.Background()
	l1, err := local.New(local.WithMaxCost(256 << 20))
	if err != nil {
		panic(err)
	}
	l2, err := remote.New(remote.Config{Addresses: []remote.Address{{Host: "127.0.0.1", Port: 6379}}})
	if err != nil {
		panic(err)
	}
	c, err := tiered.New(l1, l2, tiered.WithL1TTL(30*time.Second), tiered.WithNegativeCaching(time.Second))
	if err != nil {
		panic(err)
	}
	defer c.Close()

	if err := c.Set(ctx, []byte("user:42"), []byte(`{"name":"Ada"}`), time.Hour); err != nil {
		panic(err)
	}
	v, found, err := c.Get(ctx, []byte("user:42"))
	fmt.Println(string(v), found, err)
}
