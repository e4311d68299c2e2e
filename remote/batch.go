package remote

import (
	"context"
	"errors"
	"fmt"
	"time"

	glide "github.com/valkey-io/valkey-glide/go/v2"
	"github.com/valkey-io/valkey-glide/go/v2/models"
	"github.com/valkey-io/valkey-glide/go/v2/options"
	"github.com/valkey-io/valkey-glide/go/v2/pipeline"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/internal/ttl"
)

// MGet reads keys with one MGET. In Cluster mode GLIDE splits it by hash
// slot and reassembles the replies in key order.
func (c *Client) MGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	if len(keys) == 0 {
		return [][]byte{}, nil
	}
	var rs []models.Result[string]
	err := c.do(ctx, true, func(g context.Context) (err error) {
		rs, err = c.cmd.MGet(g, strs(keys))
		return err
	})
	if err != nil {
		return nil, glideError("mget", err)
	}
	if len(rs) != len(keys) {
		return nil, opError("mget", fmt.Errorf("got %d values for %d keys", len(rs), len(keys)))
	}
	out := make([][]byte, len(rs))
	for i, r := range rs {
		out[i] = resultBytes(r)
	}
	return out, nil
}

// MSet stores items. Without a ttl it sends one MSET, which is atomic in
// Standalone mode and atomic per hash slot in Cluster mode.
//
// With a ttl it sends SET key value PX ttl for each item, so that every key
// that was written has its ttl, even after a failure. Standalone mode sends
// them as one MULTI/EXEC transaction. Cluster mode sends them as a pipeline
// that GLIDE splits by node, where a failure can leave some items written
// and others not.
func (c *Client) MSet(ctx context.Context, items []kv.Item, ttlIn time.Duration) error {
	d, err := ttl.ForWrite(ttlIn)
	if err != nil {
		return opError("mset", err)
	}
	if len(items) == 0 {
		return nil
	}
	if d == 0 {
		m := make(map[string]string, len(items))
		for _, it := range items {
			m[str(it.Key)] = str(it.Value)
		}
		err := c.do(ctx, true, func(g context.Context) error {
			_, err := c.cmd.MSet(g, m)
			return err
		})
		if err != nil {
			return glideError("mset", err)
		}
		return nil
	}
	var results []any
	err = c.do(ctx, true, func(g context.Context) (err error) {
		results, err = c.msetPX(g, items, d)
		return err
	})
	if err != nil {
		return glideError("mset", err)
	}
	if results == nil {
		// GLIDE returns (nil, nil) for a transaction aborted by WATCH, which
		// MSet never issues; treat it as a failure rather than success.
		return opError("mset", errors.New("transaction aborted"))
	}
	for _, r := range results {
		if e := glide.IsError(r); e != nil {
			return glideError("mset", e)
		}
	}
	return nil
}

// msetPX sends the SET ... PX commands of MSet under g and returns GLIDE's
// replies.
func (c *Client) msetPX(g context.Context, items []kv.Item, d time.Duration) ([]any, error) {
	opts := options.SetOptions{Expiry: pxExpiry(d)}
	if c.cluster != nil {
		b := pipeline.NewClusterBatch(false)
		for _, it := range items {
			b.SetWithOptions(str(it.Key), str(it.Value), opts)
		}
		return c.cluster.Exec(g, *b, false)
	}
	b := pipeline.NewStandaloneBatch(true)
	for _, it := range items {
		b.SetWithOptions(str(it.Key), str(it.Value), opts)
	}
	return c.standalone.Exec(g, *b, false)
}

// DeleteMany removes keys with one DEL, after dropping duplicates so that
// each existing key counts once. In Cluster mode GLIDE splits the DEL by
// hash slot and adds up the counts.
func (c *Client) DeleteMany(ctx context.Context, keys [][]byte) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	unique := make([]string, 0, len(keys))
	seen := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		s := str(k)
		if _, dup := seen[s]; dup {
			continue
		}
		seen[s] = struct{}{}
		unique = append(unique, s)
	}
	var n int64
	err := c.do(ctx, true, func(g context.Context) (err error) {
		n, err = c.cmd.Del(g, unique)
		return err
	})
	if err != nil {
		return 0, glideError("deletemany", err)
	}
	return int(n), nil
}

// MGetWithTTL returns, for each key in order, its value (nil when missing)
// and its remaining ttl (kv.NoExpiry when it has none, 0 for a missing
// key). It sends GET and PTTL for each key in one round trip per node.
// Standalone mode sends them as a MULTI/EXEC transaction. Cluster mode
// sends a pipeline that GLIDE splits by node, and reports a key deleted
// between its GET and its PTTL as missing.
//
// MGetWithTTL implements tiered.TTLGetter, so that package tiered fills its
// L1 for no longer than the key has left in Valkey.
func (c *Client) MGetWithTTL(ctx context.Context, keys [][]byte) ([][]byte, []time.Duration, error) {
	if len(keys) == 0 {
		return [][]byte{}, []time.Duration{}, nil
	}
	var results []any
	err := c.do(ctx, true, func(g context.Context) (err error) {
		if c.cluster != nil {
			b := pipeline.NewClusterBatch(false)
			for _, k := range keys {
				b.Get(str(k)).PTTL(str(k))
			}
			results, err = c.cluster.Exec(g, *b, true)
			return err
		}
		b := pipeline.NewStandaloneBatch(true)
		for _, k := range keys {
			b.Get(str(k)).PTTL(str(k))
		}
		results, err = c.standalone.Exec(g, *b, true)
		return err
	})
	if err != nil {
		return nil, nil, glideError("mgetwithttl", err)
	}
	return valuesAndTTLs(results, len(keys))
}

// valuesAndTTLs decodes the replies of MGetWithTTL's pipeline: a string or
// nil from each GET, then an int64 from its PTTL.
func valuesAndTTLs(results []any, n int) ([][]byte, []time.Duration, error) {
	if len(results) != 2*n {
		return nil, nil, opError("mgetwithttl", fmt.Errorf("got %d replies for %d keys", len(results), n))
	}
	values := make([][]byte, n)
	ttls := make([]time.Duration, n)
	for i := range n {
		ms, ok := results[2*i+1].(int64)
		if !ok {
			return nil, nil, opError("mgetwithttl", fmt.Errorf("unexpected PTTL reply %v", results[2*i+1]))
		}
		switch v := results[2*i].(type) {
		case nil:
			continue
		case string:
			if ms == -2 {
				continue // deleted or expired between GET and PTTL
			}
			values[i] = []byte(v)
		default:
			return nil, nil, opError("mgetwithttl", fmt.Errorf("unexpected GET reply %v", v))
		}
		if ms == -1 {
			ttls[i] = kv.NoExpiry
		} else {
			ttls[i] = time.Duration(ms) * time.Millisecond
		}
	}
	return values, ttls, nil
}
