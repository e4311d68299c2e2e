package remote

import (
	"context"
	"time"
)

// Close must wait for GLIDE's core to reply to or time out every request
// that GLIDE abandoned because its context ended (see Client.Close). So
// GLIDE never gets a caller's context that can end. It gets one of its
// own, which ends only when the caller's context ends before Close has
// begun, and only after the abandonment is noted in abandonedUntil.

// request is the context GLIDE gets for one request, and what ends it.
type request struct {
	// ctx is the caller's context when that never ends, and a context of
	// its own otherwise.
	ctx context.Context
	// cancel and stop are nil when ctx is the caller's context. stop
	// unregisters the function that ends ctx when the caller's ends.
	cancel context.CancelFunc
	stop   func() bool
	// bound is how long GLIDE's core takes at most to reply to or time
	// out the request.
	bound time.Duration
}

// begin returns the request under which a command for a caller with
// context ctx is handed to GLIDE, whose core replies to or times it out
// within bound. The caller must pass the request to end once GLIDE has
// returned.
func (c *Client) begin(ctx context.Context, bound time.Duration) request {
	if ctx.Done() == nil {
		return request{ctx: ctx}
	}
	// WithoutCancel keeps ctx's values, which GLIDE's OpenTelemetry spans
	// may read.
	glideCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		// Close sets closed while holding closeMu for writing. So either
		// Close finds this abandonment in abandonedUntil, or this function
		// finds closed set and leaves the request to GLIDE's Close, which
		// fails it.
		c.closeMu.RLock()
		defer c.closeMu.RUnlock()
		if c.closed.Load() {
			return
		}
		c.noteAbandoned(bound)
		cancel()
	})
	return request{ctx: glideCtx, cancel: cancel, stop: stop, bound: bound}
}

// end releases what begin allocated for r.
func (c *Client) end(r request) {
	if r.cancel == nil {
		return
	}
	r.stop()
	if r.ctx.Err() != nil {
		// GLIDE may have sent the request only after the abandonment was
		// noted, so the core's timer may have started later than the noted
		// time assumes. GLIDE has returned by now, so the request, if sent,
		// was sent before this second note.
		c.noteAbandoned(r.bound)
	}
	r.cancel()
}

// noteAbandoned records that GLIDE's core will have replied to or timed out
// an abandoned request within bound from now.
func (c *Client) noteAbandoned(bound time.Duration) {
	until := time.Now().Add(bound).UnixNano()
	for {
		old := c.abandonedUntil.Load()
		if old >= until || c.abandonedUntil.CompareAndSwap(old, until) {
			return
		}
	}
}

// waitAbandoned waits until GLIDE's core has replied to or timed out every
// request abandoned by its context. No request is abandoned once Close has
// set closed, but end can still move abandonedUntil later, hence the loop.
func (c *Client) waitAbandoned() {
	// The core starts a request's timer when it receives the request,
	// which can be a little later than the time noted. The margin covers
	// that.
	const margin = 20 * time.Millisecond
	for {
		until := c.abandonedUntil.Load()
		if until == 0 {
			return
		}
		wait := time.Until(time.Unix(0, until).Add(margin))
		if wait <= 0 {
			return
		}
		time.Sleep(wait)
		if c.abandonedUntil.Load() == until {
			return
		}
	}
}
