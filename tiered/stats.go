package tiered

import "sync/atomic"

// Stats counts what a [Client] has done since New. The counters are read
// one by one, so they may be mutually inconsistent while calls are in flight.
type Stats struct {
	// L1Hits counts keys served from L1, cached misses included.
	L1Hits uint64
	// L2Hits counts keys that missed L1 and were found in L2.
	L2Hits uint64
	// Misses counts keys found in neither tier.
	Misses uint64
	// Fills counts L1 fills after an L2 read, and StaleFills the reads whose
	// result was not filled because a write or invalidation of the key
	// finished while the read was in flight.
	Fills, StaleFills uint64
	// Fetches counts L2 reads made on misses, and FetchedKeys the keys they
	// carried: FetchedKeys / Fetches is the mean batch size.
	Fetches, FetchedKeys uint64
	// Shared counts misses that joined a read of the same key already in
	// flight in this process instead of reading L2 themselves.
	Shared uint64
	// InvalidationsSent and InvalidationsReceived count invalidation messages
	// (each may carry several keys) published by this client and received
	// from other clients.
	InvalidationsSent, InvalidationsReceived uint64
	// Computes counts compute calls run by GetOrCompute in this process, and
	// LockWaits the GetOrCompute calls in this process that missed and then
	// got their value from another process's compute.
	Computes, LockWaits uint64
	// SubscriptionLosses counts the times the invalidation subscription was
	// taken as lost, and Resets the times L1 was cleared as a result.
	SubscriptionLosses, Resets uint64
	// Degraded is true while the subscription is taken as lost.
	Degraded bool
	// PublishErrors counts failed invalidation publishes.
	PublishErrors uint64
	// Errors counts calls that returned an error, plus failures in the
	// background (failed publishes, malformed messages).
	Errors uint64
}

type counters struct {
	l1Hits, l2Hits, misses                    atomic.Uint64
	invalidationsSent, invalidationsReceived  atomic.Uint64
	computes, lockWaits                       atomic.Uint64
	subscriptionLosses, resets, publishErrors atomic.Uint64
	errors                                    atomic.Uint64
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	s := &c.stats
	cs := c.coord.Stats()
	return Stats{
		L1Hits: s.l1Hits.Load(), L2Hits: s.l2Hits.Load(), Misses: s.misses.Load(),
		Fills: cs.Fills, StaleFills: cs.StaleFills,
		Fetches: cs.Fetches, FetchedKeys: cs.Fetched, Shared: cs.Shared,
		InvalidationsSent:     s.invalidationsSent.Load(),
		InvalidationsReceived: s.invalidationsReceived.Load(),
		Computes:              s.computes.Load(), LockWaits: s.lockWaits.Load(),
		SubscriptionLosses: s.subscriptionLosses.Load(), Resets: s.resets.Load(),
		Degraded:      c.degraded.Load(),
		PublishErrors: s.publishErrors.Load(),
		Errors:        s.errors.Load(),
	}
}
