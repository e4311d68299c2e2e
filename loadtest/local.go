package main

import "github.com/derp-kv/kv/local"

func newLocalTarget(c config) (*target, error) {
	lc, err := local.New(local.WithMaxCost(c.L1Size))
	if err != nil {
		return nil, err
	}
	stats := func() (uint64, uint64) {
		s := lc.Stats()
		return s.Hits, s.Misses
	}
	return &target{mode: modeLocal, client: lc, loader: lc, l1Stats: stats, closers: []func() error{lc.Close}}, nil
}
