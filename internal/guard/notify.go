package guard

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"time"
)

// Notice kinds, the first byte of a notice.
const (
	noticeStored byte = 's' // the value is stored: read it again
	noticeFailed byte = 'f' // compute failed: the rest is the error text
)

// resubscribeAfter spaces out attempts to subscribe after a failure, so a
// backend without pub/sub costs one failed attempt per second, not one per
// wait.
const resubscribeAfter = time.Second

// waiter is one flight waiting for another process's compute of key.
type waiter struct {
	holder     []byte        // token of the lock holder when the wait began
	wake       chan struct{} // buffered 1: a pending wake absorbs duplicates
	subscribed bool          // whether a notice can reach it; guarded by Guard.mu
	failMsg    string        // guarded by Guard.mu
	parked     bool          // whether it is past its checks and blocked; guarded by Guard.mu
}

func (w *waiter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// failure returns the error text of w's holder, or "" if none arrived.
func (g *Guard) failure(w *waiter) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return w.failMsg
}

// register adds a waiter for key, subscribing first if no subscription is
// active. The waiter is in the map before the subscription is checked, so
// every notice the subscription delivers from then on reaches it.
func (g *Guard) register(ctx context.Context, key, holder []byte) *waiter {
	w := &waiter{holder: holder, wake: make(chan struct{}, 1)}
	g.mu.Lock()
	set := g.waiters[string(key)]
	if set == nil {
		set = make(map[*waiter]struct{})
		g.waiters[string(key)] = set
	}
	set[w] = struct{}{}
	g.mu.Unlock()

	subscribed := g.subscribe(ctx)
	g.mu.Lock()
	w.subscribed = subscribed
	g.mu.Unlock()
	return w
}

// park records that w has made its last checks and now only waits, which
// tests use to know that only a notice or the retry delay can end the wait.
func (g *Guard) park(w *waiter) {
	g.mu.Lock()
	w.parked = true
	g.mu.Unlock()
}

// subscribed reports whether notices reach w.
func (g *Guard) subscribed(w *waiter) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return w.subscribed
}

func (g *Guard) unregister(key []byte, w *waiter) {
	g.mu.Lock()
	defer g.mu.Unlock()
	set := g.waiters[string(key)]
	delete(set, w)
	if len(set) == 0 {
		delete(g.waiters, string(key))
	}
}

// subscribe makes sure the subscription for notices is active and reports
// whether it is. Only one attempt runs at a time; waiters that arrive during
// it poll for this round.
func (g *Guard) subscribe(ctx context.Context) bool {
	if g.sub == nil {
		return false
	}
	g.mu.Lock()
	if g.notices != nil {
		g.mu.Unlock()
		return true
	}
	if g.closed || g.subscribing || time.Since(g.subErr) < resubscribeAfter {
		g.mu.Unlock()
		return false
	}
	g.subscribing = true
	g.mu.Unlock()

	notices, err := g.sub.Subscribe(ctx, g.opts.Channel, g.handle)

	g.mu.Lock()
	g.subscribing = false
	if err != nil {
		g.subErr = time.Now()
		g.mu.Unlock()
		g.logError("subscribe to "+g.opts.Channel, nil, err)
		return false
	}
	if g.closed {
		// Close ran during Subscribe and could not see this subscription.
		g.mu.Unlock()
		_ = notices.Close()
		return false
	}
	g.notices = notices
	g.mu.Unlock()
	return true
}

// handle dispatches one notice to the waiters of its key. Notices may be
// duplicated, reordered or stale. A stored notice only makes waiters read
// again. A failure notice counts only for waiters that read the same holder
// token from the lock key, so a failure of an earlier holder, whose token
// differs, does not fail them.
func (g *Guard) handle(message []byte) {
	kind, key, token, text, ok := decodeNotice(message)
	if !ok {
		g.logError("decode notice", nil, errors.New("malformed notice"))
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for w := range g.waiters[string(key)] {
		if kind == noticeFailed && bytes.Equal(token, w.holder) {
			w.failMsg = text
			if w.failMsg == "" {
				w.failMsg = "unknown error"
			}
		}
		w.signal()
	}
}

// notify sends the outcome of an owner's compute. Without pub/sub the
// waiters see the value or the free lock on their next poll.
func (g *Guard) notify(ctx context.Context, key, token []byte, computeErr error) {
	if g.pub == nil {
		return
	}
	kind, text := noticeStored, ""
	if computeErr != nil {
		kind, text = noticeFailed, errorText(computeErr)
	}
	if err := g.pub.Publish(ctx, g.opts.Channel, encodeNotice(kind, key, token, text)); err != nil {
		g.logError("publish notice", key, err)
	}
}

// encodeNotice lays out a notice as kind, uvarint key length, key, uvarint
// token length, token, and the error text to the end. Keys are binary, so
// lengths rather than separators delimit them.
func encodeNotice(kind byte, key, token []byte, text string) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(key)+len(token)+len(text))
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(token)))
	b = append(b, token...)
	return append(b, text...)
}

func decodeNotice(b []byte) (kind byte, key, token []byte, text string, ok bool) {
	if len(b) < 1 {
		return 0, nil, nil, "", false
	}
	kind, b = b[0], b[1:]
	if kind != noticeStored && kind != noticeFailed {
		return 0, nil, nil, "", false
	}
	key, b, ok = readField(b)
	if !ok {
		return 0, nil, nil, "", false
	}
	token, b, ok = readField(b)
	if !ok {
		return 0, nil, nil, "", false
	}
	return kind, key, token, string(b), true
}

func readField(b []byte) (field, rest []byte, ok bool) {
	n, size := binary.Uvarint(b)
	if size <= 0 || n > uint64(len(b)-size) {
		return nil, nil, false
	}
	b = b[size:]
	return b[:n], b[n:], true
}
