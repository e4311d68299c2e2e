package tiered_test

import (
	"context"
	"encoding/json"
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

// View skips the copy that Get makes of an L1 hit, for a caller that decodes
// the bytes at once. The slice is shared with the cache and must not be
// modified.
func ExampleClient_View() {
	ctx := context.Background()
	l1, _ := local.New()
	l2, _ := local.New()
	c, err := tiered.New(l1, l2, tiered.WithoutInvalidation())
	if err != nil {
		panic(err)
	}
	defer c.Close()

	_ = c.Set(ctx, []byte("config"), []byte(`{"limit":100}`), 0)
	var config struct{ Limit int }
	for range 2 { // the first read misses L1 and fills it; the second hits
		raw, found, err := c.View(ctx, []byte("config"))
		if err != nil || !found {
			panic(fmt.Sprint(found, err))
		}
		if err := json.Unmarshal(raw, &config); err != nil {
			panic(err)
		}
	}
	fmt.Println(config.Limit, c.Stats().L1Hits)
	// Output:
	// 100 1
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
