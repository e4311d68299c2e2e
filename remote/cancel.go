package remote

import (
	"context"

	"github.com/derp-kv/kv"
)

// GLIDE v2.5.3 must never see a request's context end. When it does, it
// returns at once and lets the garbage collector reclaim the variable whose
// address its core holds for the reply. A late reply is then written
// through a dangling pointer, and the process can crash with "send on
// synctest channel from outside bubble" or worse
// (valkey-io/valkey-glide#6657, fixed after v2.5.3). A reply that comes
// after GLIDE's Close has failed the request takes the same path.
//
// So every request is handed to GLIDE under a context that never ends, and
// GLIDE's core bounds it with Config.RequestTimeout. A caller whose context
// ends returns at once while the request runs on in a goroutine of its own,
// and Close waits for every request to return from GLIDE before it closes
// GLIDE's clients.

// do runs call, which sends one or more requests to GLIDE under the
// context it is given. It takes an in-flight slot when slot is set. It
// returns call's error, or, when the caller's ctx ends or Close begins
// first, ctx.Err() or kv.ErrClosed while call runs on. call must not touch
// anything the caller reads after do returns early.
func (c *Client) do(ctx context.Context, slot bool, call func(context.Context) error) error {
	if err := c.begin(ctx, slot); err != nil {
		return err
	}
	if ctx.Done() == nil {
		defer c.end(slot)
		return call(ctx)
	}
	done := make(chan error, 1)
	go func() {
		defer c.end(slot)
		done <- call(context.WithoutCancel(ctx))
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return kv.ErrClosed
	}
}

// doBounded runs call under a context that never ends and waits for it,
// for requests that carry a timeout of their own, such as a blocking
// SUBSCRIBE. Returning early would leave the subscription state to a
// request that no caller waits for.
func (c *Client) doBounded(ctx context.Context, call func(context.Context) error) error {
	if err := c.begin(ctx, false); err != nil {
		return err
	}
	defer c.end(false)
	return call(context.WithoutCancel(ctx))
}

// begin registers a call with the Client, which Close waits for, and takes
// an in-flight slot when slot is set, waiting under ctx while all are
// taken.
func (c *Client) begin(ctx context.Context, slot bool) error {
	c.closeMu.RLock()
	if c.closed.Load() {
		c.closeMu.RUnlock()
		return kv.ErrClosed
	}
	c.calls.Add(1)
	c.closeMu.RUnlock()

	// A context that has already ended sends nothing.
	if err := ctx.Err(); err != nil {
		c.calls.Done()
		return err
	}
	if !slot {
		return nil
	}
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		c.calls.Done()
		return ctx.Err()
	case <-c.done:
		c.calls.Done()
		return kv.ErrClosed
	}
}

// end releases what begin took.
func (c *Client) end(slot bool) {
	if slot {
		<-c.slots
	}
	c.calls.Done()
}
