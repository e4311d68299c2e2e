package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/remote"
)

// target is one mode's way of reaching the cache inside one process.
type target struct {
	mode string
	// client is the client the scenario drives.
	client kv.Client
	// shared reaches the shared Valkey directly, never through an L1. The
	// scenarios keep their bookkeeping there (compute counters, write
	// acknowledgements) so that every process reads the same values. It is
	// nil in local mode, which shares nothing between processes.
	shared kv.Client
	// loader preloads keys with MSet: the client itself, except in raw mode,
	// whose client has no MSet, and in tiered mode, where keys go straight
	// to L2 so that L1 starts cold as it would in a new process.
	loader kv.Client
	// getOrCompute is set in tiered mode only.
	getOrCompute func(ctx context.Context, key []byte, ttl time.Duration, compute func(context.Context) ([]byte, error)) ([]byte, error)
	// l1Stats returns the L1 hits and misses so far; nil when the mode has
	// no L1 statistics.
	l1Stats func() (hits, misses uint64)
	// events returns counts of background events worth reporting beside
	// the measurements, such as lost invalidation subscriptions; nil when
	// the mode has none.
	events  func() map[string]uint64
	closers []func() error
}

func (t *target) l1Counts() (hits, misses uint64) {
	if t.l1Stats == nil {
		return 0, 0
	}
	return t.l1Stats()
}

func (t *target) eventCounts() map[string]uint64 {
	if t.events == nil {
		return nil
	}
	return t.events()
}

// Close closes every client the target opened, in reverse order.
func (t *target) Close() error {
	var errs []error
	for i := len(t.closers) - 1; i >= 0; i-- {
		errs = append(errs, t.closers[i]())
	}
	return errors.Join(errs...)
}

// needsValkey reports whether a mode talks to Valkey.
func needsValkey(mode string) bool {
	return mode != modeLocal
}

// newTarget opens the clients of mode as the job's config describes.
func newTarget(ctx context.Context, j job) (*target, error) {
	switch j.Mode {
	case modeLocal:
		return newLocalTarget(j.Config)
	case modeRemote:
		return newRemoteTarget(ctx, j.Config)
	case modeRaw:
		return newRawTarget(j.Config)
	case modeTiered:
		return newTieredTarget(ctx, j)
	}
	return nil, fmt.Errorf("unknown mode %q", j.Mode)
}

// remoteConfig describes the deployment named by -addr, -url or -cluster.
// The runner sets Addr to its throwaway server when none was given.
func remoteConfig(c config) (remote.Config, error) {
	if c.URL != "" {
		return remote.ParseURL(c.URL)
	}
	rc := remote.Config{Mode: remote.Standalone, ClientName: "kv-loadtest"}
	addrs := c.Cluster
	if len(addrs) > 0 {
		rc.Mode = remote.Cluster
	} else if c.Addr != "" {
		addrs = []string{c.Addr}
	}
	if len(addrs) == 0 {
		return remote.Config{}, errors.New("no Valkey address: give -addr, -url or -cluster, or let the runner start a throwaway server")
	}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return remote.Config{}, fmt.Errorf("address %q: %w", a, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return remote.Config{}, fmt.Errorf("address %q: invalid port: %w", a, err)
		}
		rc.Addresses = append(rc.Addresses, remote.Address{Host: host, Port: p})
	}
	return rc, nil
}

func newRemoteClient(c config) (*remote.Client, error) {
	rc, err := remoteConfig(c)
	if err != nil {
		return nil, err
	}
	return remote.New(rc)
}

func newRemoteTarget(ctx context.Context, c config) (*target, error) {
	rc, err := newRemoteClient(c)
	if err != nil {
		return nil, err
	}
	if err := rc.Connect(ctx); err != nil {
		rc.Close()
		return nil, err
	}
	return &target{mode: modeRemote, client: rc, shared: rc, loader: rc, closers: []func() error{rc.Close}}, nil
}
