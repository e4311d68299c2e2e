// Package tiered composes two kv.Client tiers into one: an in-process L1
// (package local) in front of a shared L2 (package remote, on Valkey), kept
// coherent across every process that shares the L2.
//
// A [Client] implements kv.Client. Reads try L1 first, and a miss goes
// through package coordinator. The coordinator shares one L2 read among
// concurrent misses of a key and batches misses on different keys into one
// L2 read. It fills L1 with a TTL no longer than the key has left in L2 or
// the L1 TTL cap. Writes go
// to L2 first, then drop the key from L1 and publish an invalidation on
// L2's pub/sub, so that every other Client drops it too. TTL, Exists and
// Scan read L2. GetOrCompute adds a fleet-wide compute-once miss path on the
// lock protocol of internal/guard.
//
// Neither tiered nor coordinator imports GLIDE: they see L2 through the kv
// interfaces (kv.Publisher, kv.Subscriber and kv.Swapper, found by type
// assertion, and [TTLGetter], which package remote implements), so a
// program that uses tiered over two local clients builds without cgo.
//
// # Consistency
//
// Within a process, a Get that starts after a write has returned returns the value of that
// write: the write drops the key from L1 before it returns, and a read of L2
// that was in flight during the write never fills L1 with what it read.
// Across processes, another Client drops the key when the invalidation
// arrives, typically within a millisecond on loopback. A write made outside
// this package (valkey-cli, another library) is not announced and stays
// invisible to processes that cached the key for up to the L1 TTL cap
// (WithL1TTL). Each Client publishes a heartbeat on the invalidation channel
// and watches for its own heartbeats: when they stop, it reads around L1
// until they return, and then clears L1. docs/consistency.md states the
// guarantees and their limits in full.
//
// # Usage
//
//	l1, err := local.New(local.WithMaxCost(256 << 20))
//	l2, err := remote.New(remote.Config{Addresses: []remote.Address{{Host: "127.0.0.1", Port: 6379}}})
//	c, err := tiered.New(l1, l2, tiered.WithL1TTL(30*time.Second))
//	defer c.Close() // closes l1 and l2 too
//	v, found, err := c.Get(ctx, []byte("user:42"))
//	v, err = c.GetOrCompute(ctx, []byte("report:7"), time.Hour, buildReport)
package tiered
