package main

import (
	"context"
	"errors"

	"github.com/derp-kv/kv/local"
	"github.com/derp-kv/kv/tiered"
)

// missedHeartbeats is how many -heartbeat intervals a tiered client's own
// heartbeats may be behind before it reads around L1.
const missedHeartbeats = 3

// newTieredTarget composes a local L1 of -l1-size bytes with a remote L2,
// with heartbeats every -heartbeat and tiered's defaults otherwise
// (invalidation on, 1-minute L1 TTL). The scenarios keep their bookkeeping
// in L2 directly.
func newTieredTarget(ctx context.Context, j job) (*target, error) {
	l1, err := local.New(local.WithMaxCost(j.Config.L1Size))
	if err != nil {
		return nil, err
	}
	l2, err := newRemoteClient(j.Config)
	if err != nil {
		return nil, errors.Join(err, l1.Close())
	}
	// The ratelimit and idempotency scenarios keep their state under these
	// prefixes; like package patterns' own "derp:" keys, it is never worth
	// caching in L1.
	l2Only := tiered.WithL2OnlyPrefixes(tiered.DefaultL2OnlyPrefix, j.Prefix+"rl", j.Prefix+"idem")
	tc, err := tiered.New(l1, l2, tiered.WithHeartbeat(j.Config.Heartbeat, missedHeartbeats), l2Only)
	if err != nil {
		return nil, errors.Join(err, l1.Close(), l2.Close())
	}
	if err := tc.Connect(ctx); err != nil {
		return nil, errors.Join(err, tc.Close())
	}
	stats := func() (uint64, uint64) {
		s := tc.Stats()
		return s.L1Hits, s.L2Hits + s.Misses
	}
	return &target{
		mode:         modeTiered,
		client:       tc,
		shared:       l2,
		loader:       l2,
		getOrCompute: tc.GetOrCompute,
		l1Stats:      stats,
		events: func() map[string]uint64 {
			s := tc.Stats()
			return map[string]uint64{
				"invalidation subscription losses": s.SubscriptionLosses,
				"L1 resets":                        s.Resets,
				"failed publishes":                 s.PublishErrors,
			}
		},
		// Close closes both tiers.
		closers: []func() error{tc.Close},
	}, nil
}
