package remote_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/derp-kv/kv/remote"
)

func ExampleParseURL() {
	cfg, err := remote.ParseURL("valkeys://app:s%40cret@10.0.0.1:7000?mode=cluster&addr=10.0.0.2:7000&request_timeout=100ms")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Mode, cfg.Addresses, cfg.UseTLS, cfg.RequestTimeout)
	fmt.Println(cfg.Password == "s@cret", cfg)

	_, err = remote.ParseURL("redis://app:s3cret@cache:6379/x")
	fmt.Println(err)
	// Output:
	// cluster [10.0.0.1:7000 10.0.0.2:7000] true 100ms
	// true remote.Config{Mode: cluster, Addresses: [10.0.0.1:7000 10.0.0.2:7000], Username: "app", Password: [redacted], UseTLS: true, RootCAsPEM: 0 bytes, Database: 0, ClientName: "", RequestTimeout: 100ms, ConnectTimeout: 0s, MaxInFlight: 0}
	// kv: remote: parse url "redis://app:xxxxx@cache:6379/x": invalid database "x" in path (want a number such as /0)
}

// ExampleNew needs a Valkey server on localhost:6379, so it only compiles.
func ExampleNew() {
	c, err := remote.New(remote.Config{
		Addresses:      []remote.Address{{Host: "localhost", Port: 6379}},
		RequestTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx := context.Background()
	if err := c.Set(ctx, []byte("greeting"), []byte("hello"), time.Minute); err != nil {
		log.Fatal(err)
	}
	value, found, err := c.Get(ctx, []byte("greeting"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(value), found)
}
