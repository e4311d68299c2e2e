package patterns_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/derp-kv/kv/local"
	"github.com/derp-kv/kv/patterns"
	"github.com/derp-kv/kv/remote"
)

func ExampleGuardedGet() {
	ctx := context.Background()
	client, err := local.New()
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	loadProfile := func(context.Context) ([]byte, error) {
		fmt.Println("loading from the database")
		return []byte(`{"name":"Ada"}`), nil
	}
	for range 2 {
		profile, err := patterns.GuardedGet(ctx, client, []byte("profile:42"), time.Minute, loadProfile)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(profile))
	}
	// Output:
	// loading from the database
	// {"name":"Ada"}
	// {"name":"Ada"}
}

func ExampleRateLimit() {
	ctx := context.Background()
	client, err := local.New()
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	for range 3 {
		res, err := patterns.RateLimit(ctx, client, "user:42", 2, time.Minute)
		if err != nil {
			log.Print(err) // the result still follows the failure mode
		}
		fmt.Printf("allowed=%v remaining=%d\n", res.Allowed, res.Remaining)
	}
	// Output:
	// allowed=true remaining=1
	// allowed=true remaining=0
	// allowed=false remaining=0
}

func ExampleRateLimit_gcra() {
	ctx := context.Background()
	client, err := local.New()
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	// 10 requests per second, spaced 100 ms apart after a burst of 10.
	res, err := patterns.RateLimit(ctx, client, "api-key:7", 10, time.Second,
		patterns.WithAlgorithm(patterns.GCRA), patterns.WithFailureMode(patterns.FailClosed))
	if err != nil {
		log.Print(err)
	}
	fmt.Println(res.Allowed, res.Remaining)
	// Output:
	// true 9
}

func ExampleIdempotentExecute() {
	ctx := context.Background()
	client, err := local.New()
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	type receipt struct {
		Charge string `json:"charge"`
	}
	charge := func(context.Context) (receipt, error) {
		fmt.Println("charging the card")
		return receipt{Charge: "ch_1"}, nil
	}
	for range 2 {
		res, err := patterns.IdempotentExecute(ctx, client, "payment-7f3a", charge,
			patterns.WithStatusCode(http.StatusCreated))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(res.Body.Charge, res.StatusCode, res.Replay)
	}
	// Output:
	// charging the card
	// ch_1 201 false
	// ch_1 201 true
}

// ExampleIdempotencyMiddleware needs a Valkey server, so it only compiles.
func ExampleIdempotencyMiddleware() {
	client, err := remote.New(remote.Config{Addresses: []remote.Address{{Host: "127.0.0.1", Port: 6379}}})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	createOrder := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"order":"o-1"}`)
	})
	mux := http.NewServeMux()
	mux.Handle("POST /orders", patterns.IdempotencyMiddleware(client)(createOrder))
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}

func ExampleAlreadyProcessed() {
	ctx := context.Background()
	client, err := local.New()
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	for range 2 {
		seen, err := patterns.AlreadyProcessed(ctx, client, "evt_1Nx")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("already processed:", seen)
	}
	// Output:
	// already processed: false
	// already processed: true
}

func ExampleHandleEvent() {
	ctx := context.Background()
	client, err := local.New()
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	attempts := 0
	ship := func(context.Context) error {
		attempts++
		if attempts == 1 {
			return errors.New("carrier unavailable")
		}
		return nil
	}
	// The sender delivers the event three times.
	for range 3 {
		processed, err := patterns.HandleEvent(ctx, client, "evt_9Qa", ship)
		fmt.Println(processed, err)
	}
	// Output:
	// false carrier unavailable
	// true <nil>
	// false <nil>
}
