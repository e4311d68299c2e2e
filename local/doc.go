// Package local is the in-process tier of kv: a [kv.Client] that keeps
// entries in the Go heap within a memory budget, on a ristretto v2 cache
// (github.com/dgraph-io/ristretto/v2). Package tiered puts it in front of
// package remote as the first level; on its own it serves tests and
// single-process programs. It does not use cgo.
//
//	c, err := local.New(local.WithMaxCost(256 << 20))
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	err = c.Set(ctx, []byte("user:42"), payload, time.Minute)
//
// # What local adds to ristretto
//
// Ristretto is fast but leaves gaps that the kv contract does not allow.
// The Client closes them:
//
//   - Read your writes. Ristretto applies a write to a new key later, on
//     its own goroutine, and may drop it. A Set here returns once a Get
//     would return the value, unless the entry was evicted or refused by
//     the admission policy to stay within the budget.
//   - Expiry. Every read checks the entry's own deadline, so an expired
//     entry is never returned. A sweeper removes expired entries in the
//     background to free their budget (WithSweepInterval).
//   - Scan. Ristretto keeps only hashes of keys, so each stored value is an
//     entry that carries its key, and Scan reads the keys from ristretto's
//     store: an evicted, deleted or expired key is never yielded.
//   - Atomic read-modify-write. SetNX, Incr, IncrWithTTL, Expire,
//     CompareAndSwap and CompareAndDelete hold a lock striped by key hash.
//   - The budget. Each entry's cost includes its bookkeeping, and a write
//     that grows an entry goes through admission again, so the stored
//     entries stay within WithMaxCost.
//   - Lifetime. Close waits for calls in progress and stops every
//     goroutine; later calls return kv.ErrClosed.
//
// Keys and values are copied in and out, so callers may reuse their
// slices. Client also implements [kv.Swapper] and [kv.TTLCounter]. See
// docs/local.md for the design and measured costs.
package local
