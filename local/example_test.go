package local_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/derp-kv/kv/local"
)

func Example() {
	ctx := context.Background()
	c, err := local.New(local.WithMaxCost(16 << 20))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	if err := c.Set(ctx, []byte("greeting"), []byte("hello"), time.Minute); err != nil {
		fmt.Println(err)
		return
	}
	value, found, err := c.Get(ctx, []byte("greeting"))
	fmt.Println(string(value), found, err)

	visits, err := c.Incr(ctx, []byte("visits"))
	fmt.Println(visits, err)
	// Output:
	// hello true <nil>
	// 1 <nil>
}

func ExampleClient_Scan() {
	ctx := context.Background()
	c, err := local.New()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	for _, k := range []string{"user:1", "user:2", "order:1"} {
		if err := c.Set(ctx, []byte(k), nil, 0); err != nil {
			fmt.Println(err)
			return
		}
	}
	var users []string
	for key, err := range c.Scan(ctx, []byte("user:"), 0) {
		if err != nil {
			fmt.Println(err)
			return
		}
		users = append(users, string(key))
	}
	slices.Sort(users) // Scan yields keys in no particular order.
	fmt.Println(users)
	// Output:
	// [user:1 user:2]
}

func ExampleWithMaxCost() {
	_, err := local.New(local.WithMaxCost(100))
	fmt.Println(err)
	// Output:
	// kv: local: new: WithMaxCost(100): the budget must be at least 4096 bytes
}
