package tiered

import (
	"context"
	"sync"
)

// publishBatch gathers the keys of writes that finished while a publish was
// in flight, for the next publish.
type publishBatch struct {
	keys [][]byte
	// turn is closed when the publish in flight has finished and the write
	// that created the batch may publish it.
	turn chan struct{}
	// done is closed once the batch is published, or the publish failed.
	done chan struct{}
}

// publishQueue lets concurrent writes share invalidation publishes.
type publishQueue struct {
	mu       sync.Mutex
	inFlight bool          // a publish is in flight
	next     *publishBatch // keys waiting for the next publish, or nil
}

// publishInvalidation sends keys to every other process and returns once
// they are published, or the publish failed and was counted and logged.
//
// GLIDE pays a large fixed cost per call, so a PUBLISH per write would make
// every write cost two L2 calls. A write that finds no publish in flight
// publishes its keys at once, in its own goroutine. Writes that finish
// while a publish is in flight add their keys to one batch, which the first
// of them publishes when that publish ends: a group commit. Either way a
// write returns only after a message with its keys is out.
func (c *Client) publishInvalidation(keys [][]byte) {
	q := &c.publishes
	q.mu.Lock()
	if !q.inFlight {
		q.inFlight = true
		q.mu.Unlock()
		// Deferred, so that a panic in the publish cannot leave inFlight
		// set and every later write waiting.
		defer c.endPublish()
		c.publishNow(keys)
		return
	}
	batch, first := q.next, false
	if batch == nil {
		batch = &publishBatch{turn: make(chan struct{}), done: make(chan struct{})}
		q.next, first = batch, true
	}
	batch.keys = append(batch.keys, keys...)
	q.mu.Unlock()

	if !first {
		<-batch.done
		return
	}
	// endPublish took the batch out of the queue before closing turn, so
	// no write adds keys to it any more.
	<-batch.turn
	defer c.endPublish()
	defer close(batch.done)
	c.publishNow(batch.keys)
}

// endPublish ends the publish in flight and passes the turn to the waiting
// batch, if any, which then becomes the publish in flight.
func (c *Client) endPublish() {
	q := &c.publishes
	q.mu.Lock()
	batch := q.next
	q.next = nil
	if batch == nil {
		q.inFlight = false
	}
	q.mu.Unlock()
	if batch != nil {
		close(batch.turn)
	}
}

// publishNow publishes keys in one message, bounded by the publish timeout.
// It does not take the writer's context: the write may have landed although
// the caller gave up, and other processes must hear of it.
func (c *Client) publishNow(keys [][]byte) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.publishTimeout)
	defer cancel()
	c.publish(ctx, encodeInvalidation(c.origin, keys), len(keys))
}
