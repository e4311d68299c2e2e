package coordinator

import (
	"bytes"
	"context"

	"github.com/derp-kv/kv"
)

// acquisition carries the keys of one LoadMany that belong to one worker.
type acquisition struct {
	keys [][]byte
	reqs []*request
	// lead is written by the worker: the reads the sender must fetch.
	lead []*flight
	w    *worker
}

// LoadMany reads keys from L2 as Load does, but fetches every key that has
// no read in flight in one call to Fetch, whichever workers own the keys.
// Keys with a read in flight join it. It returns one entry per key, in
// order.
func (c *Coordinator) LoadMany(ctx context.Context, keys [][]byte) ([]Entry, error) {
	if len(keys) == 0 {
		return []Entry{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Take a fetch slot before registering any read: a registered read must
	// be fetched, or the callers that join it would wait for nothing.
	select {
	case c.external <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.stop:
		return nil, kv.ErrClosed
	}
	reqs, acqs := c.group(keys)
	for _, a := range acqs {
		if err := c.control(a.w, message{kind: kindAcquire, acq: a}); err != nil {
			<-c.external
			return nil, err
		}
	}
	if err := c.fetchLeads(acqs); err != nil {
		return nil, err
	}

	out := make([]Entry, len(keys))
	for i, q := range reqs {
		e, err := c.wait(ctx, q)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// group splits keys by worker, in a fixed order so that the results of one
// Fetch can be handed back by offset.
func (c *Coordinator) group(keys [][]byte) ([]*request, []*acquisition) {
	reqs := make([]*request, len(keys))
	byWorker := make(map[*worker]*acquisition)
	var acqs []*acquisition
	for i, k := range keys {
		w := c.workerOf(k)
		a := byWorker[w]
		if a == nil {
			a = &acquisition{w: w}
			byWorker[w] = a
			acqs = append(acqs, a)
		}
		reqs[i] = &request{done: make(chan struct{})}
		a.keys = append(a.keys, bytes.Clone(k))
		a.reqs = append(a.reqs, reqs[i])
	}
	return reqs, acqs
}

// fetchLeads reads the keys LoadMany leads in one Fetch, on a goroutine of
// the coordinator so that the caller can give up without failing the
// callers that joined those reads. It releases the fetch slot.
func (c *Coordinator) fetchLeads(acqs []*acquisition) error {
	var keys [][]byte
	for _, a := range acqs {
		for _, f := range a.lead {
			keys = append(keys, f.key)
		}
	}
	if len(keys) == 0 {
		<-c.external
		return nil
	}
	c.closeMu.RLock()
	if c.closed {
		c.closeMu.RUnlock()
		<-c.external
		return kv.ErrClosed
	}
	c.wg.Add(1)
	c.closeMu.RUnlock()

	go func() {
		defer c.wg.Done()
		defer func() { <-c.external }()
		entries, err := c.fetch(keys)
		off := 0
		for _, a := range acqs {
			if len(a.lead) == 0 {
				continue
			}
			res := &result{batch: a.lead, err: err}
			if err == nil {
				res.entries = entries[off : off+len(a.lead)]
			}
			off += len(a.lead)
			// An error here means the worker has exited, and Close has
			// already released the callers.
			_ = c.control(a.w, message{kind: kindComplete, res: res})
		}
	}()
	return nil
}
