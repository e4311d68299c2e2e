package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

type kind uint8

const (
	kindLoad       kind = iota // join or start a batched read of key
	kindAcquire                // join or register reads that the sender fetches itself
	kindComplete               // results of reads fetched outside the worker
	kindInvalidate             // drop keys from L1 and disown their reads in flight
	kindReset                  // disown every read in flight
)

// message is one request to a worker. Queues carry it by value, so a Load
// costs no allocation for it.
type message struct {
	kind kind
	key  []byte
	req  *request
	keys [][]byte
	done chan struct{}
	acq  *acquisition
	res  *result
}

// request is one caller waiting for one key. The worker writes entry and err
// before it closes done, and the caller reads them only after done is closed.
type request struct {
	done  chan struct{}
	entry Entry
	err   error
}

// flight is one read of one key from L2, with the callers that wait for it.
// Only the key's worker touches it.
type flight struct {
	key     []byte
	waiters []*request
	// sent is set once the read has been handed to Fetch: from then on it may
	// return a value older than a write that finishes before it returns.
	sent bool
	// stale is set when an invalidation or reset overtook the sent read, so
	// its result must not fill L1.
	stale bool
}

type result struct {
	batch   []*flight
	entries []Entry
	err     error
	// own is false for reads fetched by LoadMany, which do not count against
	// the worker's MaxFetches.
	own bool
}

type worker struct {
	c *Coordinator
	// loads carries Load requests. The worker stops taking them while
	// QueueSize reads are pending, so misses beyond the bound wait in their
	// callers, under their contexts.
	loads chan message
	// control carries everything else, which is never held back: a write
	// waiting for its invalidation must not wait for a read of L2.
	control chan message
	results chan result // capacity MaxFetches, so a fetch never blocks on it
	exited  chan struct{}

	// The fields below belong to the worker goroutine alone.
	flights  map[string]*flight // reads not yet disowned, by key
	pending  []*flight          // reads waiting for a free fetch slot
	inFlight int                // own fetches running
}

func (w *worker) run() {
	defer w.c.wg.Done()
	defer close(w.exited)
	for {
		select {
		case <-w.c.stop:
			return
		case m := <-w.control:
			w.handle(m)
		case m := <-w.acceptLoads():
			w.handle(m)
		case r := <-w.results:
			w.finish(r)
		}
		w.drain()
		w.dispatch()
	}
}

// acceptLoads returns the loads channel, or nil (which blocks forever in a
// select) while the pending reads are at their bound.
func (w *worker) acceptLoads() chan message {
	if len(w.pending) >= w.c.cfg.QueueSize {
		return nil
	}
	return w.loads
}

// drain handles the messages already queued, so that misses that arrived
// together go out in one batch. It stops after MaxBatch messages so that
// finished reads are not kept waiting behind a long queue.
func (w *worker) drain() {
	for range w.c.cfg.MaxBatch {
		select {
		case m := <-w.control:
			w.handle(m)
		case m := <-w.acceptLoads():
			w.handle(m)
		default:
			return
		}
	}
}

func (w *worker) handle(m message) {
	switch m.kind {
	case kindLoad:
		w.c.stats.loads.Add(1)
		if f := w.join(m.key, m.req); f != nil {
			w.pending = append(w.pending, f)
		}
	case kindAcquire:
		w.acquire(m.acq)
		close(m.done)
	case kindComplete:
		w.finish(*m.res)
		close(m.done)
	case kindInvalidate:
		for _, k := range m.keys {
			w.c.cfg.Drop(k)
			w.disown(k)
		}
		close(m.done)
	case kindReset:
		for k := range w.flights {
			w.disown([]byte(k))
		}
		close(m.done)
	}
}

// acquire registers the keys of a LoadMany: keys with a read in flight join
// it, the others get a new read that the sender fetches itself.
func (w *worker) acquire(a *acquisition) {
	for i, k := range a.keys {
		w.c.stats.loads.Add(1)
		if f := w.join(k, a.reqs[i]); f != nil {
			f.sent = true
			a.lead = append(a.lead, f)
		}
	}
}

// join adds q to the read of key in flight, or starts a new read and returns
// it.
func (w *worker) join(key []byte, q *request) *flight {
	if f, ok := w.flights[string(key)]; ok {
		f.waiters = append(f.waiters, q)
		w.c.stats.shared.Add(1)
		return nil
	}
	f := &flight{key: key, waiters: []*request{q}}
	w.flights[string(key)] = f
	return f
}

// disown handles a write to key that has finished in L2. A read of key
// already sent may have seen the old value, so it must not fill L1. A Load
// that starts from now on must not join it either, because that Load began
// after the write and has to see it. A read still pending has not been
// sent, so it will see the write and stays.
func (w *worker) disown(key []byte) {
	f, ok := w.flights[string(key)]
	if !ok || !f.sent {
		return
	}
	f.stale = true
	delete(w.flights, string(key))
}

func (w *worker) dispatch() {
	for len(w.pending) > 0 && w.inFlight < w.c.cfg.MaxFetches {
		n := min(len(w.pending), w.c.cfg.MaxBatch)
		batch := make([]*flight, n)
		copy(batch, w.pending)
		w.pending = w.pending[:copy(w.pending, w.pending[n:])]
		keys := make([][]byte, n)
		for i, f := range batch {
			f.sent = true
			keys[i] = f.key
		}
		w.inFlight++
		w.c.wg.Add(1)
		go func() {
			defer w.c.wg.Done()
			entries, err := w.c.fetch(keys)
			// results has room for MaxFetches results and at most that many
			// own fetches run, so this send never blocks.
			w.results <- result{batch: batch, entries: entries, err: err, own: true}
		}()
	}
}

func (c *Coordinator) fetch(keys [][]byte) ([]Entry, error) {
	ctx, cancel := context.WithTimeout(c.life, c.cfg.FetchTimeout)
	defer cancel()
	c.stats.fetches.Add(1)
	c.stats.fetched.Add(uint64(len(keys)))
	readAt := time.Now()
	entries, err := c.cfg.Fetch(ctx, keys)
	if err == nil && len(entries) != len(keys) {
		err = fmt.Errorf("kv: coordinator: fetch returned %d entries for %d keys", len(entries), len(keys))
	}
	if err == nil {
		for i := range entries {
			entries[i].ReadAt = readAt
		}
	}
	if err != nil {
		c.stats.fetchErrors.Add(1)
	}
	return entries, err
}

// finish fills L1 with the results of a read and replies to its callers.
//
// Fill runs here, on the key's worker, and so does every Drop of the key:
// the two never overlap. If an invalidation was applied after the read was
// sent, disown has marked the flight stale and the fill is skipped; if it is
// applied after this fill, its Drop removes what the fill stored. Either
// way L1 never keeps a value older than a write that has finished.
func (w *worker) finish(r result) {
	if r.own {
		w.inFlight--
	}
	for i, f := range r.batch {
		if cur, ok := w.flights[string(f.key)]; ok && cur == f {
			delete(w.flights, string(f.key))
		}
		var e Entry
		if r.err == nil {
			e = r.entries[i]
			if f.stale {
				w.c.stats.staleFills.Add(1)
			} else {
				w.c.cfg.Fill(f.key, e)
				w.c.stats.fills.Add(1)
			}
		}
		for j, q := range f.waiters {
			q.entry, q.err = e, r.err
			if j > 0 && e.Value != nil {
				// Every caller owns the slice it gets back.
				q.entry.Value = bytes.Clone(e.Value)
			}
			close(q.done)
		}
	}
}
