package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/local"
	"github.com/derp-kv/kv/remote"
	"github.com/derp-kv/kv/tiered"
	"github.com/redis/rueidis"
)

// Side names, in the order of the default run.
const (
	sideTiered       = "kv-tiered"
	sideRueidisCache = "rueidis-cache"
	sideRueidis      = "rueidis"
	sideRemote       = "kv-remote"
)

var allSides = []string{sideTiered, sideRueidisCache, sideRueidis, sideRemote}

// keyTTL is the server-side expiry of every key written, so that no key
// outlives the run for long even if the server were kept.
const keyTTL = 10 * time.Minute

// cacheKey is one key in both forms the clients take, built once so that
// no side pays for a conversion on the request path.
type cacheKey struct {
	s string
	b []byte
}

func newCacheKey(s string) cacheKey { return cacheKey{s: s, b: []byte(s)} }

// store is one client of one side, as the workload drives it.
type store interface {
	get(ctx context.Context, k cacheKey) (value []byte, found bool, err error)
	set(ctx context.Context, k cacheKey, value []byte) error
	// hitStats returns the store's read counters since it was opened. ok is
	// false for a side without a cache.
	hitStats() (counts hitCounts, ok bool)
	close() error
}

// hitCounts are the read counters of a store with a cache.
type hitCounts struct {
	// hits counts reads served from process memory, and lookups all reads.
	hits, lookups uint64
	// joined counts reads that missed the cache and waited for a server
	// read of the same key that another call had already sent. The tiered
	// client counts them apart from hits (Stats.Shared). rueidis counts them
	// as hits: in v1.0.80, with its default LRU store, a call that waits
	// for another call's fetch gets the cached copy, which carries the
	// cache-hit mark.
	joined uint64
}

// openStore connects one client of the named side to the server at addr.
// cacheTTL is the longest rueidis keeps a value in its client-side cache.
func openStore(ctx context.Context, side, addr string, cacheTTL time.Duration) (store, error) {
	switch side {
	case sideTiered:
		return openTiered(ctx, addr)
	case sideRueidisCache:
		return openRueidis(addr, true, cacheTTL)
	case sideRueidis:
		return openRueidis(addr, false, 0)
	case sideRemote:
		l2, err := openRemote(addr)
		if err != nil {
			return nil, err
		}
		return &kvStore{client: l2}, nil
	}
	return nil, fmt.Errorf("unknown side %q", side)
}

func openRemote(addr string) (*remote.Client, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("invalid port in %q: %w", addr, err)
	}
	return remote.New(remote.Config{
		Addresses: []remote.Address{{Host: host, Port: port}},
		Mode:      remote.Standalone,
	})
}

// openTiered composes tiered's defaults: a local L1 of local.DefaultMaxCost
// (64 MiB), a one-minute L1 TTL cap, and invalidation with heartbeats every
// second.
func openTiered(ctx context.Context, addr string) (store, error) {
	l1, err := local.New()
	if err != nil {
		return nil, err
	}
	l2, err := openRemote(addr)
	if err != nil {
		return nil, errors.Join(err, l1.Close())
	}
	tc, err := tiered.New(l1, l2)
	if err != nil {
		return nil, errors.Join(err, l1.Close(), l2.Close())
	}
	if err := tc.Connect(ctx); err != nil {
		return nil, errors.Join(err, tc.Close())
	}
	stats := func() hitCounts {
		s := tc.Stats()
		return hitCounts{hits: s.L1Hits, lookups: s.L1Hits + s.L2Hits + s.Misses, joined: s.Shared}
	}
	return &kvStore{client: tc, stats: stats}, nil
}

// kvStore drives a kv.Client. stats is nil for a client without L1.
type kvStore struct {
	client kv.Client
	stats  func() hitCounts
}

func (s *kvStore) get(ctx context.Context, k cacheKey) ([]byte, bool, error) {
	return s.client.Get(ctx, k.b)
}

func (s *kvStore) set(ctx context.Context, k cacheKey, value []byte) error {
	return s.client.Set(ctx, k.b, value, keyTTL)
}

func (s *kvStore) hitStats() (hitCounts, bool) {
	if s.stats == nil {
		return hitCounts{}, false
	}
	return s.stats(), true
}

func (s *kvStore) close() error { return s.client.Close() }

// openRueidis connects a rueidis client with its defaults. With cache set,
// reads go through DoCache, which turns on RESP3 client tracking for the
// keys read and keeps each value for at most cacheTTL. Without it, client
// tracking is off and every read is a plain GET.
func openRueidis(addr string, cache bool, cacheTTL time.Duration) (store, error) {
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  []string{addr},
		DisableCache: !cache,
	})
	if err != nil {
		return nil, fmt.Errorf("rueidis: connect to %s: %w", addr, err)
	}
	return &rueidisStore{client: client, cache: cache, cacheTTL: cacheTTL}, nil
}

type rueidisStore struct {
	client   rueidis.Client
	cache    bool
	cacheTTL time.Duration
	// hits and lookups count DoCache reads, and the reads among them whose
	// result came from the client-side cache (RedisResult.IsCacheHit).
	hits, lookups atomic.Uint64
}

func (s *rueidisStore) get(ctx context.Context, k cacheKey) ([]byte, bool, error) {
	var result rueidis.RedisResult
	if s.cache {
		result = s.client.DoCache(ctx, s.client.B().Get().Key(k.s).Cache(), s.cacheTTL)
		s.lookups.Add(1)
		if result.IsCacheHit() {
			s.hits.Add(1)
		}
	} else {
		result = s.client.Do(ctx, s.client.B().Get().Key(k.s).Build())
	}
	value, err := result.AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return value, true, nil
}

// set hands value to rueidis without a copy, which is safe because the
// workload never changes a value after writing it.
func (s *rueidisStore) set(ctx context.Context, k cacheKey, value []byte) error {
	cmd := s.client.B().Set().Key(k.s).Value(rueidis.BinaryString(value)).Px(keyTTL).Build()
	return s.client.Do(ctx, cmd).Error()
}

func (s *rueidisStore) hitStats() (hitCounts, bool) {
	if !s.cache {
		return hitCounts{}, false
	}
	return hitCounts{hits: s.hits.Load(), lookups: s.lookups.Load()}, true
}

func (s *rueidisStore) close() error {
	s.client.Close()
	return nil
}
