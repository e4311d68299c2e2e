package tiered

import (
	"context"
	"fmt"
	"time"

	"github.com/derp-kv/kv"
)

// The optional kv interfaces are routed to L2, so that package patterns and
// other code written against them can take a tiered Client as it is. The
// methods exist whatever L2 is; when L2 lacks the interface they return an
// error wrapping kv.ErrUnsupported. Writes among them invalidate the key
// like any other write.

var (
	_ kv.Swapper    = (*Client)(nil)
	_ kv.TTLCounter = (*Client)(nil)
	_ kv.Publisher  = (*Client)(nil)
	_ kv.Subscriber = (*Client)(nil)
)

// CompareAndSwap runs kv.Swapper.CompareAndSwap on L2 and invalidates key
// when it stored the value.
func (c *Client) CompareAndSwap(ctx context.Context, key, old, value []byte, ttl time.Duration) (bool, error) {
	const op = "compareandswap"
	s, err := optional[kv.Swapper](c, op)
	if err != nil {
		return false, err
	}
	done, err := c.beginWrite(op)
	if err != nil {
		return false, err
	}
	defer done()
	swapped, err := s.CompareAndSwap(ctx, key, old, value, ttl)
	c.invalidate(err, swapped || err != nil, key)
	return swapped, c.wrap(op, err)
}

// CompareAndDelete runs kv.Swapper.CompareAndDelete on L2 and invalidates
// key when it deleted it.
func (c *Client) CompareAndDelete(ctx context.Context, key, old []byte) (bool, error) {
	const op = "compareanddelete"
	s, err := optional[kv.Swapper](c, op)
	if err != nil {
		return false, err
	}
	done, err := c.beginWrite(op)
	if err != nil {
		return false, err
	}
	defer done()
	deleted, err := s.CompareAndDelete(ctx, key, old)
	c.invalidate(err, deleted || err != nil, key)
	return deleted, c.wrap(op, err)
}

// IncrWithTTL runs kv.TTLCounter.IncrWithTTL on L2 and invalidates key.
func (c *Client) IncrWithTTL(ctx context.Context, key []byte, ttl time.Duration) (int64, time.Duration, error) {
	const op = "incrwithttl"
	tc, err := optional[kv.TTLCounter](c, op)
	if err != nil {
		return 0, 0, err
	}
	done, err := c.beginWrite(op)
	if err != nil {
		return 0, 0, err
	}
	defer done()
	n, remaining, err := tc.IncrWithTTL(ctx, key, ttl)
	c.invalidate(err, true, key)
	return n, remaining, c.wrap(op, err)
}

// Publish sends message on channel through L2's pub/sub.
func (c *Client) Publish(ctx context.Context, channel string, message []byte) error {
	const op = "publish"
	p, err := optional[kv.Publisher](c, op)
	if err != nil {
		return err
	}
	return c.wrap(op, p.Publish(ctx, channel, message))
}

// Subscribe subscribes handler to channel through L2's pub/sub. The
// subscription is L2's own: closing the Client closes L2 and with it every
// subscription made here.
func (c *Client) Subscribe(ctx context.Context, channel string, handler func(message []byte)) (kv.Subscription, error) {
	const op = "subscribe"
	s, err := optional[kv.Subscriber](c, op)
	if err != nil {
		return nil, err
	}
	sub, err := s.Subscribe(ctx, channel, handler)
	return sub, c.wrap(op, err)
}

// optional returns L2 as the optional interface T, or the error a call of op
// returns when the Client is closed or L2 does not implement T.
func optional[T any](c *Client, op string) (T, error) {
	var zero T
	if c.closed.Load() {
		return zero, c.closedError(op)
	}
	t, ok := c.l2.(T)
	if !ok {
		return zero, fmt.Errorf("kv: tiered: %s: L2 %T does not implement %T: %w", op, c.l2, (*T)(nil), kv.ErrUnsupported)
	}
	return t, nil
}
