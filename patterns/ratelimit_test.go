package patterns_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/internal/valkeytest"
	"github.com/derp-kv/kv/patterns"
	"github.com/derp-kv/kv/remote"
)

var algorithms = []struct {
	name      string
	algorithm patterns.Algorithm
}{
	{"FixedWindow", patterns.FixedWindow},
	{"GCRA", patterns.GCRA},
}

func TestRateLimitExactUnderConcurrency(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg.name, func(t *testing.T) {
			forEach(t, allBackends(), func(t *testing.T, b backend) {
				testRateLimitExact(t, b, alg.algorithm)
			})
		})
	}
}

func testRateLimitExact(t *testing.T, b backend, algorithm patterns.Algorithm) {
	const limit = 100
	clients, goroutines := 4, 64
	if !b.shared {
		clients, goroutines = 1, 256
	}
	if algorithm == patterns.GCRA {
		// Every allowed GCRA request is a compare-and-swap that the others
		// retry, so fewer contenders keep the test short.
		goroutines /= 4
	}
	ctx := testContext(t)
	key := uniqueKey(t)
	// A window of an hour earns GCRA no new slot during the test, so both
	// algorithms must allow exactly the limit.
	window := time.Hour

	var allowed, denied atomic.Int32
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range clients {
		c := b.connect(t)
		for range goroutines {
			wg.Go(func() {
				<-start
				for range 2 {
					res, err := patterns.RateLimit(ctx, c, key, limit, window, patterns.WithAlgorithm(algorithm))
					if !assert.NoError(t, err) {
						return
					}
					if res.Allowed {
						allowed.Add(1)
					} else {
						denied.Add(1)
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()

	assert.Equal(t, int32(limit), allowed.Load(), "allowed")
	assert.Equal(t, int32(2*clients*goroutines-limit), denied.Load(), "denied")
}

func TestRateLimitResultFields(t *testing.T) {
	for _, alg := range algorithms {
		t.Run(alg.name, func(t *testing.T) {
			forEach(t, allBackends(), func(t *testing.T, b backend) {
				ctx := testContext(t)
				c := b.connect(t)
				key := uniqueKey(t)
				opt := patterns.WithAlgorithm(alg.algorithm)

				first, err := patterns.RateLimit(ctx, c, key, 2, time.Minute, opt)
				require.NoError(t, err)
				assert.Equal(t, patterns.RateLimitResult{Allowed: true, Count: 1, Limit: 2, Remaining: 1}, first)

				second, err := patterns.RateLimit(ctx, c, key, 2, time.Minute, opt)
				require.NoError(t, err)
				assert.Equal(t, patterns.RateLimitResult{Allowed: true, Count: 2, Limit: 2, Remaining: 0}, second)

				third, err := patterns.RateLimit(ctx, c, key, 2, time.Minute, opt)
				require.NoError(t, err)
				assert.False(t, third.Allowed)
				assert.Equal(t, 0, third.Remaining)
				assert.Equal(t, 2, third.Limit)
				assert.Greater(t, third.RetryAfter, time.Duration(0))
				assert.LessOrEqual(t, third.RetryAfter, time.Minute)
			})
		})
	}
}

func TestRateLimitRejectsBadInput(t *testing.T) {
	ctx := testContext(t)
	c := connectLocal(t)
	tests := []struct {
		name   string
		limit  int
		window time.Duration
		want   string
	}{
		{name: "zero limit", limit: 0, window: time.Second, want: "limit 0 is not positive"},
		{name: "negative limit", limit: -1, window: time.Second, want: "limit -1 is not positive"},
		{name: "zero window", limit: 1, window: 0, want: "window 0s is not positive"},
		{name: "negative window", limit: 1, window: -time.Second, want: "window -1s is not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := patterns.RateLimit(ctx, c, "k", tt.limit, tt.window)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.False(t, res.Allowed)
		})
	}
}

func TestRateLimitUnsupportedClient(t *testing.T) {
	ctx := testContext(t)
	bare := struct{ kv.Client }{connectLocal(t)}
	for _, alg := range algorithms {
		t.Run(alg.name, func(t *testing.T) {
			res, err := patterns.RateLimit(ctx, bare, "k", 1, time.Second, patterns.WithAlgorithm(alg.algorithm))
			require.ErrorIs(t, err, kv.ErrUnsupported)
			assert.False(t, res.Allowed, "an unsupported client fails closed")
		})
	}
}

// TestRateLimitCounterAlwaysHasTTL hammers a counter whose window expires
// many times during the test, and reads its PTTL with valkey-cli meanwhile:
// an increment and its expiry done as two steps would sometimes leave -1.
func TestRateLimitCounterAlwaysHasTTL(t *testing.T) {
	forEach(t, remoteBackends(), func(t *testing.T, b backend) {
		ctx := testContext(t)
		key := uniqueKey(t)
		storeKey := patterns.DefaultRateLimitPrefix + ":" + key

		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			c := b.connect(t)
			for range 4 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						_, err := patterns.RateLimit(ctx, c, key, 3, 2*time.Millisecond)
						if !assert.NoError(t, err) {
							return
						}
					}
				})
			}
		}

		var checks []string
		for range 40 {
			out, err := b.cli("PTTL", storeKey)
			require.NoError(t, err)
			checks = append(checks, strings.TrimSpace(out))
		}
		close(stop)
		wg.Wait()
		out, err := b.cli("PTTL", storeKey)
		require.NoError(t, err)
		checks = append(checks, strings.TrimSpace(out))

		for _, pttl := range checks {
			assert.NotEqual(t, "-1", pttl, "a counter without a ttl")
		}
	})
}

// TestRateLimitWindowBoundary sends the same schedule to both algorithms: a
// first request, a burst just before the fixed window ends, and a burst just
// after it. The fixed window allows nearly twice the limit within a fifth of
// a window; GCRA allows the limit plus the few slots the elapsed time earns.
func TestRateLimitWindowBoundary(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		const limit = 10
		const window = 600 * time.Millisecond
		ctx := testContext(t)
		c := b.connect(t)
		key := uniqueKey(t)
		fixed := func() patterns.RateLimitResult {
			res, err := patterns.RateLimit(ctx, c, key+":fixed", limit, window)
			require.NoError(t, err)
			return res
		}
		gcra := func() patterns.RateLimitResult {
			res, err := patterns.RateLimit(ctx, c, key+":gcra", limit, window, patterns.WithAlgorithm(patterns.GCRA))
			require.NoError(t, err)
			return res
		}
		burst := func(call func() patterns.RateLimitResult, n int) int {
			allowed := 0
			for range n {
				if call().Allowed {
					allowed++
				}
			}
			return allowed
		}

		require.True(t, fixed().Allowed)
		require.True(t, gcra().Allowed)
		fixedKey := []byte(patterns.DefaultRateLimitPrefix + ":" + key + ":fixed")
		require.Eventually(t, func() bool {
			ttl, found, err := c.TTL(ctx, fixedKey)
			return err == nil && found && ttl < window/5
		}, 5*time.Second, time.Millisecond, "the fixed window never neared its end")

		burstStart := time.Now()
		fixedAllowed := burst(fixed, limit)
		gcraAllowed := burst(gcra, limit)
		require.Eventually(t, func() bool {
			found, err := c.Exists(ctx, fixedKey)
			return err == nil && !found
		}, 5*time.Second, time.Millisecond, "the fixed window never ended")
		fixedAllowed += burst(fixed, limit)
		gcraAllowed += burst(gcra, limit)
		span := time.Since(burstStart)

		t.Logf("within %v: fixed window allowed %d, GCRA allowed %d of %d", span, fixedAllowed, gcraAllowed, 2*limit)
		require.Less(t, span, window, "the bursts took longer than a window; the comparison means nothing")
		assert.Equal(t, 2*limit-1, fixedAllowed, "fixed window across its boundary")
		// GCRA earns one slot per window/limit; within span it can add at
		// most span/(window/limit)+1 slots to the full bucket it starts with.
		earned := int(span/(window/limit)) + 1
		assert.LessOrEqual(t, gcraAllowed, limit+earned, "GCRA across the boundary")
		assert.Less(t, gcraAllowed, fixedAllowed)
	})
}

func TestRateLimitFailureMode(t *testing.T) {
	server, err := valkeytest.Start()
	require.NoError(t, err)
	defer server.Stop()
	cfg := remoteConfig(remote.Standalone, server)
	cfg.RequestTimeout = 500 * time.Millisecond
	c := connectRemote(t, cfg)
	ctx := testContext(t)
	key := uniqueKey(t)
	_, err = patterns.RateLimit(ctx, c, key, 10, time.Minute)
	require.NoError(t, err, "rate limit while the server runs")
	server.Stop()

	tests := []struct {
		name        string
		opts        []patterns.RateLimitOption
		wantAllowed bool
	}{
		{name: "default fails open", wantAllowed: true},
		{name: "fail open", opts: []patterns.RateLimitOption{patterns.WithFailureMode(patterns.FailOpen)}, wantAllowed: true},
		{name: "fail closed", opts: []patterns.RateLimitOption{patterns.WithFailureMode(patterns.FailClosed)}, wantAllowed: false},
		{name: "GCRA fail closed", opts: []patterns.RateLimitOption{patterns.WithAlgorithm(patterns.GCRA), patterns.WithFailureMode(patterns.FailClosed)}, wantAllowed: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := patterns.RateLimit(ctx, c, key, 10, time.Minute, tt.opts...)
			require.ErrorIs(t, err, patterns.ErrRateLimitUnavailable)
			assert.Equal(t, tt.wantAllowed, res.Allowed)
			assert.Equal(t, 10, res.Limit)
			assert.Equal(t, time.Duration(0), res.RetryAfter)
		})
	}
}

func TestRateLimitCancelledContextDenies(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		c := b.connect(t)
		ctx, cancel := context.WithCancel(testContext(t))
		cancel()
		for _, algorithm := range []patterns.Algorithm{patterns.FixedWindow, patterns.GCRA} {
			res, err := patterns.RateLimit(ctx, c, uniqueKey(t), 10, time.Minute,
				patterns.WithAlgorithm(algorithm), patterns.WithFailureMode(patterns.FailOpen))
			require.ErrorIs(t, err, context.Canceled, "algorithm %d", algorithm)
			assert.NotErrorIs(t, err, patterns.ErrRateLimitUnavailable, "algorithm %d: the backend did not fail", algorithm)
			assert.False(t, res.Allowed, "algorithm %d: a caller that gave up must not be allowed", algorithm)
		}
	})
}

func TestRateLimitClosedClientDenies(t *testing.T) {
	c := connectLocal(t)
	require.NoError(t, c.Close())
	res, err := patterns.RateLimit(testContext(t), c, uniqueKey(t), 10, time.Minute, patterns.WithFailureMode(patterns.FailOpen))
	require.ErrorIs(t, err, kv.ErrClosed)
	assert.NotErrorIs(t, err, patterns.ErrRateLimitUnavailable, "a closed client is no outage")
	assert.False(t, res.Allowed, "a closed client must not let requests through")
}

func TestPatternsRejectNilOption(t *testing.T) {
	c := connectLocal(t)
	ctx := testContext(t)
	_, err := patterns.RateLimit(ctx, c, uniqueKey(t), 10, time.Minute, nil)
	assert.ErrorContains(t, err, "kv: patterns: rate limit: option 0 is nil")
	_, err = patterns.GuardedGet(ctx, c, []byte(uniqueKey(t)), time.Minute, func(context.Context) ([]byte, error) { return nil, nil }, nil)
	assert.ErrorContains(t, err, "kv: patterns: guarded get: option 0 is nil")
	_, err = patterns.IdempotentExecute(ctx, c, uniqueKey(t), func(context.Context) (int, error) { return 1, nil }, nil)
	assert.ErrorContains(t, err, "kv: patterns: idempotent execute: option 0 is nil")
	_, err = patterns.AlreadyProcessed(ctx, c, uniqueKey(t), nil)
	assert.ErrorContains(t, err, "kv: patterns: dedupe: option 0 is nil")
}

// hungCounter is a backend whose counter calls hang until the caller's
// context ends, as a paused or unreachable server does.
type hungCounter struct {
	kv.Client
}

func (h hungCounter) IncrWithTTL(ctx context.Context, key []byte, ttl time.Duration) (int64, time.Duration, error) {
	<-ctx.Done()
	return 0, 0, ctx.Err()
}

func TestRateLimitDeadlineFollowsFailureMode(t *testing.T) {
	c := hungCounter{Client: connectLocal(t)}
	for _, tc := range []struct {
		mode        patterns.FailureMode
		wantAllowed bool
	}{
		{patterns.FailOpen, true},
		{patterns.FailClosed, false},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		res, err := patterns.RateLimit(ctx, c, uniqueKey(t), 10, time.Minute, patterns.WithFailureMode(tc.mode))
		cancel()
		require.ErrorIs(t, err, patterns.ErrRateLimitUnavailable, "mode %d: a hung backend is an outage", tc.mode)
		require.ErrorIs(t, err, context.DeadlineExceeded, "mode %d", tc.mode)
		assert.Equal(t, tc.wantAllowed, res.Allowed, "mode %d", tc.mode)
	}
}
