package tiered

import (
	"context"
)

// maxBatchKeys bounds the keys of one invalidation message, so that a
// message stays far below what a subscriber must buffer.
const maxBatchKeys = 512

// publishRequest is one write's invalidation waiting for the publisher.
type publishRequest struct {
	keys [][]byte
	done chan struct{} // closed once the keys are published or the publish failed
}

// publishInvalidation sends keys to every other process and returns once
// they are published, or the publish failed and was counted and logged.
//
// GLIDE pays a large fixed cost per call, so a PUBLISH per write would make
// a write cost two L2 calls. Writes that finish while a publish is in
// flight therefore wait for the publisher goroutine, which sends all their
// keys in one message: a group commit. A write still returns only after
// its own invalidation is out, as it did with a publish of its own.
func (c *Client) publishInvalidation(keys [][]byte) {
	r := publishRequest{keys: keys, done: make(chan struct{})}
	select {
	case c.publishes <- r:
		<-r.done
	case <-c.stop:
		// The publisher has stopped: only the guard's stores can still
		// write while Close winds down, and they publish on their own.
		c.publishNow(keys)
	}
}

// publisher sends the keys of every waiting publishRequest in one message,
// until Close stops it. Close stops it only after every write has
// returned, and publishInvalidation never hands it a request after that,
// because c.publishes is unbuffered.
func (c *Client) publisher() {
	defer c.wg.Done()
	var batch []publishRequest
	var keys [][]byte
	for {
		select {
		case r := <-c.publishes:
			batch, keys = append(batch[:0], r), append(keys[:0], r.keys...)
		case <-c.stop:
			return
		}
		// Take every request that waited while the previous publish was
		// in flight, without waiting for more.
	collect:
		for len(keys) < maxBatchKeys {
			select {
			case r := <-c.publishes:
				batch = append(batch, r)
				keys = append(keys, r.keys...)
			default:
				break collect
			}
		}
		c.publishNow(keys)
		for _, r := range batch {
			close(r.done)
		}
		clear(batch)
		clear(keys)
	}
}

// publishNow publishes keys in one message, bounded by the publish timeout.
func (c *Client) publishNow(keys [][]byte) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.publishTimeout)
	defer cancel()
	c.publish(ctx, encodeInvalidation(c.origin, keys), len(keys))
}
