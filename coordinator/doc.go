// Package coordinator runs the miss path of a two-tier cache: the reads from
// L2 that fill L1, and the invalidations that must never be overtaken by
// such a fill. Package tiered builds its [kv.Client] on it. Nothing in here
// depends on Valkey, GLIDE or ristretto: the coordinator reaches L2 through a
// [Config.Fetch] function and L1 through [Config.Fill] and [Config.Drop].
//
// # Workers
//
// A [Coordinator] is a fixed pool of worker goroutines. Every key hashes to
// one worker, and that worker alone starts reads of the key, fills L1 with
// the result and applies invalidations of the key, one message at a time. This ownership is what makes the absence of stale fills easy
// to reason about: a fill and an invalidation of one key never run at the
// same time, so no lock is held across L1 and no per-key counter is shared
// between goroutines.
//
// While a worker has a read in flight it keeps collecting misses, and it
// sends them as the next read in one batch, so concurrent misses on
// different keys cost one L2 round trip rather than one each. Concurrent
// misses on one key join the same read (singleflight). Each worker holds at
// most a bounded number of misses and queues a bounded number more: a burst
// of misses beyond that waits under each caller's context, and the number of
// goroutines stays at Workers × (1 + MaxFetches) plus one per LoadMany read
// in flight (at most Workers × max(MaxFetches, 8) of those).
//
// Invalidations travel on a separate queue that the worker always serves,
// so a write never waits for an L2 read. This cannot reorder a miss after an
// invalidation it should follow: Invalidate returns only once the worker has
// applied it, so a Load that starts after it is queued after it too.
//
// # Usage
//
//	c, err := coordinator.New(coordinator.Config{
//		Fetch: readFromL2, Fill: storeInL1, Drop: removeFromL1,
//	})
//	entry, err := c.Load(ctx, key)        // on an L1 miss
//	err = c.Invalidate([][]byte{key})      // after a write to L2
//	c.Close()
package coordinator
