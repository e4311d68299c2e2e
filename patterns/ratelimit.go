package patterns

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/derp-kv/kv"
)

// DefaultRateLimitPrefix is put, with a colon, in front of every rate limit
// key unless WithRateLimitPrefix sets another prefix.
const DefaultRateLimitPrefix = "derp:ratelimit"

// ErrRateLimitUnavailable is wrapped by the error RateLimit returns when the
// backend fails, together with a result that follows the FailureMode.
var ErrRateLimitUnavailable = errors.New("kv: patterns: rate limit: backend unavailable")

// RateLimitResult is the decision on one request.
type RateLimitResult struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Count is the number of requests the limiter holds against the key,
	// this one included: in the current window for FixedWindow, in the
	// bucket for GCRA. Denied requests count too under FixedWindow.
	Count int64
	// Limit is the limit the call was made with.
	Limit int
	// Remaining is how many more requests would be allowed right now. It is
	// never negative.
	Remaining int
	// RetryAfter is 0 when the request is allowed, and otherwise the time
	// after which a request can be allowed again: the end of the window for
	// FixedWindow, the next free slot for GCRA.
	RetryAfter time.Duration
}

// Algorithm selects how RateLimit counts requests.
type Algorithm int

const (
	// FixedWindow counts requests in a window that starts with the first
	// request and lasts the window length. The counter and its expiry are
	// set in one atomic step, so it needs a kv.TTLCounter. It lets up to
	// twice the limit through across a window boundary: the limit at the
	// end of one window and again at the start of the next.
	FixedWindow Algorithm = iota
	// GCRA, the generic cell rate algorithm, spaces requests one emission
	// interval (window/limit) apart and allows bursts of up to the limit.
	// No span of one window length admits more than limit requests plus
	// the ones earned by the elapsed time, so a window boundary lets no
	// extra burst through. It needs a kv.Swapper, and it reads the clock of
	// the calling process, so clocks that differ between processes shift
	// the rate by their difference.
	GCRA
)

// FailureMode selects what RateLimit decides when the backend fails.
type FailureMode int

const (
	// FailOpen allows requests while the backend fails. It is the default,
	// because a cache outage should weaken the protection, not stop the
	// service.
	FailOpen FailureMode = iota
	// FailClosed denies requests while the backend fails.
	FailClosed
)

// RateLimitOption configures RateLimit.
type RateLimitOption func(*rateLimitConfig)

type rateLimitConfig struct {
	prefix    string
	algorithm Algorithm
	failure   FailureMode
}

// WithRateLimitPrefix sets the key prefix (default "derp:ratelimit"). The
// stored key is prefix + ":" + key.
func WithRateLimitPrefix(prefix string) RateLimitOption {
	return func(c *rateLimitConfig) { c.prefix = prefix }
}

// WithAlgorithm selects the algorithm (default FixedWindow). Calls for one
// key must all use the same algorithm, because the two store different
// values.
func WithAlgorithm(a Algorithm) RateLimitOption {
	return func(c *rateLimitConfig) { c.algorithm = a }
}

// WithFailureMode selects what happens when the backend fails (default
// FailOpen).
func WithFailureMode(m FailureMode) RateLimitOption {
	return func(c *rateLimitConfig) { c.failure = m }
}

// RateLimit counts one request against key and decides whether it may
// proceed, allowing at most limit requests per window. Calls for one key
// from every process sharing the backend count together.
//
// limit and window must be positive. When the backend fails, RateLimit
// returns an error wrapping ErrRateLimitUnavailable together with a result
// that follows the FailureMode (FailOpen by default), so a caller can log
// the error and still act on Allowed:
//
//	res, err := patterns.RateLimit(ctx, c, userID, 100, time.Minute)
//	if err != nil {
//		logger.Warn("rate limiter down", "error", err)
//	}
//	if !res.Allowed { ... reply 429 with res.RetryAfter ... }
//
// A client that lacks the optional interface the algorithm needs
// (kv.TTLCounter for FixedWindow, kv.Swapper for GCRA) gets an error
// wrapping kv.ErrUnsupported and a denial, whatever the FailureMode. So does
// a caller whose ctx was cancelled, with an error wrapping
// context.Canceled, because the backend did not fail and the caller gave
// up, and a call on a closed client, with an error wrapping kv.ErrClosed.
// A ctx whose deadline passes before the backend replies counts as the
// backend failing, so the FailureMode decides.
func RateLimit(ctx context.Context, c kv.Client, key string, limit int, window time.Duration, opts ...RateLimitOption) (RateLimitResult, error) {
	cfg := rateLimitConfig{prefix: DefaultRateLimitPrefix}
	if err := applyOptions("rate limit", &cfg, opts); err != nil {
		return RateLimitResult{Limit: limit}, err
	}
	if limit <= 0 {
		return RateLimitResult{Limit: limit}, fmt.Errorf("kv: patterns: rate limit: limit %d is not positive", limit)
	}
	if window <= 0 {
		return RateLimitResult{Limit: limit}, fmt.Errorf("kv: patterns: rate limit: window %v is not positive", window)
	}
	storeKey := []byte(cfg.prefix + ":" + key)

	var (
		res RateLimitResult
		err error
	)
	switch cfg.algorithm {
	case FixedWindow:
		res, err = fixedWindow(ctx, c, storeKey, limit, window)
	case GCRA:
		res, err = gcra(ctx, c, storeKey, limit, window)
	default:
		return RateLimitResult{Limit: limit}, fmt.Errorf("kv: patterns: rate limit: unknown algorithm %d", cfg.algorithm)
	}
	if err == nil || errors.Is(err, kv.ErrUnsupported) {
		return res, err
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		// The caller gave up. A deadline that ran out, by contrast, is how
		// a caller sees a backend that hangs, which the FailureMode covers.
		return RateLimitResult{Limit: limit}, fmt.Errorf("kv: patterns: rate limit: %w", ctx.Err())
	}
	if errors.Is(err, kv.ErrClosed) {
		// A closed client is the caller's mistake, not an outage that
		// FailOpen should ride out.
		return RateLimitResult{Limit: limit}, fmt.Errorf("kv: patterns: rate limit: %w", err)
	}
	return failureResult(limit, cfg.failure), fmt.Errorf("%w: %w", ErrRateLimitUnavailable, err)
}

func failureResult(limit int, mode FailureMode) RateLimitResult {
	if mode == FailClosed {
		return RateLimitResult{Limit: limit}
	}
	return RateLimitResult{Allowed: true, Limit: limit, Remaining: limit}
}

func fixedWindow(ctx context.Context, c kv.Client, key []byte, limit int, window time.Duration) (RateLimitResult, error) {
	counter, ok := c.(kv.TTLCounter)
	if !ok {
		return RateLimitResult{Limit: limit}, fmt.Errorf("kv: patterns: rate limit: %T does not implement kv.TTLCounter, which the fixed window needs: %w", c, kv.ErrUnsupported)
	}
	// One atomic step: a counter without an expiry would block its key
	// forever once it reached the limit.
	count, remaining, err := counter.IncrWithTTL(ctx, key, window)
	if err != nil {
		return RateLimitResult{}, err
	}
	return fixedWindowResult(count, limit, remaining), nil
}

// fixedWindowResult turns a window's count and remaining time into a
// decision.
func fixedWindowResult(count int64, limit int, remaining time.Duration) RateLimitResult {
	res := RateLimitResult{Count: count, Limit: limit}
	if count <= int64(limit) {
		res.Allowed = true
		res.Remaining = int(int64(limit) - count)
		return res
	}
	// The window can end between the increment and the reply, leaving no
	// time to report; a denied request still waits at least 1 ms.
	res.RetryAfter = max(remaining, time.Millisecond)
	return res
}

// gcraAttempts bounds the compare-and-swap loop. Each failed swap means
// another request got its slot first, so the loop makes progress for the
// fleet even when one caller runs out of attempts.
const gcraAttempts = 64

func gcra(ctx context.Context, c kv.Client, key []byte, limit int, window time.Duration) (RateLimitResult, error) {
	swapper, ok := c.(kv.Swapper)
	if !ok {
		return RateLimitResult{Limit: limit}, fmt.Errorf("kv: patterns: rate limit: %T does not implement kv.Swapper, which GCRA needs: %w", c, kv.ErrUnsupported)
	}
	interval := window / time.Duration(limit)
	if interval <= 0 {
		return RateLimitResult{Limit: limit}, fmt.Errorf("kv: patterns: rate limit: window %v is shorter than limit (%d) nanoseconds", window, limit)
	}

	for attempt := range gcraAttempts {
		old, found, err := c.Get(ctx, key)
		if err != nil {
			return RateLimitResult{}, err
		}
		tat := int64(math.MinInt64)
		if found {
			tat, err = strconv.ParseInt(string(old), 10, 64)
			if err != nil {
				return RateLimitResult{Limit: limit}, fmt.Errorf("kv: patterns: rate limit: key %q contains %q, which is not a GCRA state: %w", key, old, kv.ErrNotInteger)
			}
		} else {
			old = nil
		}
		now := time.Now().UnixNano()
		d := gcraDecide(tat, now, interval, limit)
		if !d.res.Allowed {
			return d.res, nil
		}
		// The key lives until its theoretical arrival time, after which an
		// empty bucket and a missing key mean the same.
		ttl := time.Duration(d.tat - now)
		swapped, err := swapper.CompareAndSwap(ctx, key, old, []byte(strconv.FormatInt(d.tat, 10)), ttl)
		if err != nil {
			return RateLimitResult{}, err
		}
		if swapped {
			return d.res, nil
		}
		// Wait a little after a lost swap, longer after each, so that many
		// callers contending for one key do not retry in lockstep.
		if err := sleepCtx(ctx, time.Duration(attempt+1)*50*time.Microsecond); err != nil {
			return RateLimitResult{}, err
		}
	}
	return RateLimitResult{}, fmt.Errorf("kv: patterns: rate limit: key %q changed under %d attempts in a row", key, gcraAttempts)
}

// gcraDecision is the outcome of one GCRA step.
type gcraDecision struct {
	res RateLimitResult
	tat int64 // new theoretical arrival time, in Unix nanoseconds, when allowed
}

// gcraDecide applies one request at now to a bucket whose theoretical
// arrival time is tat (math.MinInt64 for an empty bucket). A request is
// allowed when, after it, the bucket holds at most limit intervals of
// requests: newTAT - now <= limit*interval. The bound is limit*interval
// rather than the window itself, so that the integer division behind
// interval can never let limit+1 requests through in one burst.
func gcraDecide(tat, now int64, interval time.Duration, limit int) gcraDecision {
	step := int64(interval)
	capacity := saturatingMul(step, int64(limit))
	// A state further ahead than a full bucket can only come from a clock
	// that jumped back; treat it as a full bucket.
	tat = min(max(tat, now), saturatingAdd(now, capacity))

	next := saturatingAdd(tat, step)
	res := RateLimitResult{Limit: limit}
	if next-now <= capacity {
		res.Allowed = true
		res.Count = ceilDiv(next-now, step)
		res.Remaining = int(max(int64(limit)-res.Count, 0))
		return gcraDecision{res: res, tat: next}
	}
	res.Count = ceilDiv(tat-now, step)
	res.RetryAfter = time.Duration(next - capacity - now)
	return gcraDecision{res: res}
}

func ceilDiv(a, b int64) int64 {
	if a <= 0 {
		return 0
	}
	return (a-1)/b + 1
}

func saturatingAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func saturatingMul(a, b int64) int64 {
	if a != 0 && b > math.MaxInt64/a {
		return math.MaxInt64
	}
	return a * b
}
