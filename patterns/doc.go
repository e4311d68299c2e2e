// Package patterns holds the helpers that services build on a cache: a
// guarded get that computes a missing key once across a fleet, rate
// limiters, idempotent execution of requests, and deduplication of
// redelivered events.
//
// Every helper takes a kv.Client, so it runs on any tier: on local in tests
// and on tiered or remote in production, where the processes sharing Valkey
// coordinate through it. Helpers that need more than kv.Client detect the
// optional interfaces of package kv with a type assertion and return an
// error wrapping kv.ErrUnsupported when the client lacks them:
//
//   - GuardedGet needs kv.Swapper, and uses kv.Publisher with kv.Subscriber
//     to wake waiters when the client has both.
//   - RateLimit needs kv.TTLCounter for FixedWindow and kv.Swapper for GCRA.
//   - IdempotentExecute, IdempotencyMiddleware, ClaimEvent and HandleEvent
//     need kv.Swapper. AlreadyProcessed needs only kv.Client.
//
// Keys are stored as prefix + ":" + key, with a default prefix per helper
// ("derp:ratelimit", "derp:idempotency", "derp:webhook"). GuardedGet keeps
// the key the caller gives and locks it under "derp:lock:" + key. Keys are
// binary-safe.
//
// docs/patterns.md states each helper's guarantees and failure behaviour.
//
//	res, err := patterns.RateLimit(ctx, client, "user:42", 100, time.Minute)
//	if err != nil {
//		logger.Warn("rate limiter unavailable", "error", err)
//	}
//	if !res.Allowed {
//		w.Header().Set("Retry-After", strconv.Itoa(int(res.RetryAfter.Seconds())+1))
//		w.WriteHeader(http.StatusTooManyRequests)
//		return
//	}
package patterns
