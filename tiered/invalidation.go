package tiered

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/derp-kv/kv"
)

// Messages on the invalidation channel are a kind byte, the sender's origin
// id, then a body. An invalidation's body is a uvarint key count followed by
// each key as a uvarint length and its bytes. A heartbeat's body is a uvarint
// sequence number.
const (
	msgInvalidate = 'i'
	msgHeartbeat  = 'h'
	originSize    = 16
	// subscribeTimeout bounds the Subscribe call in New.
	subscribeTimeout = 5 * time.Second
)

func encodeInvalidation(origin [originSize]byte, keys [][]byte) []byte {
	size := 1 + originSize + binary.MaxVarintLen64
	for _, k := range keys {
		size += binary.MaxVarintLen64 + len(k)
	}
	b := make([]byte, 0, size)
	b = append(b, msgInvalidate)
	b = append(b, origin[:]...)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	return b
}

func encodeHeartbeat(origin [originSize]byte, seq uint64) []byte {
	b := make([]byte, 0, 1+originSize+binary.MaxVarintLen64)
	b = append(b, msgHeartbeat)
	b = append(b, origin[:]...)
	return binary.AppendUvarint(b, seq)
}

var errMalformed = errors.New("kv: tiered: malformed invalidation message")

// decodeKeys parses the body of an invalidation. The keys alias b.
func decodeKeys(b []byte) ([][]byte, error) {
	n, used := binary.Uvarint(b)
	// Every key takes at least one byte, which bounds n before allocating.
	if used <= 0 || n > uint64(len(b)) {
		return nil, errMalformed
	}
	b = b[used:]
	keys := make([][]byte, 0, n)
	for range n {
		size, used := binary.Uvarint(b)
		if used <= 0 || size > uint64(len(b)-used) {
			return nil, errMalformed
		}
		b = b[used:]
		keys = append(keys, b[:size:size])
		b = b[size:]
	}
	if len(b) != 0 {
		return nil, errMalformed
	}
	return keys, nil
}

// health tracks the client's own heartbeats, which prove that the
// invalidation subscription still delivers.
type health struct {
	mu       sync.Mutex // guards the fields below and serialises state changes
	nextSeq  uint64     // sequence number of the next heartbeat sent
	lastSeq  uint64     // highest sequence number received
	lastSeen time.Time  // when a heartbeat was last received
}

func (c *Client) startInvalidation() error {
	pub, okPub := c.l2.(kv.Publisher)
	sub, okSub := c.l2.(kv.Subscriber)
	if !okPub || !okSub {
		return fmt.Errorf("kv: tiered: new: invalidation needs an L2 that implements kv.Publisher and kv.Subscriber, and %T does not; pass WithoutInvalidation() to run without it: %w", c.l2, kv.ErrUnsupported)
	}
	c.pub = pub
	c.health.lastSeen = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	s, err := sub.Subscribe(ctx, c.opts.channel, c.receive)
	if err != nil {
		return fmt.Errorf("kv: tiered: new: subscribe to %q: %w", c.opts.channel, err)
	}
	c.sub = s
	c.wg.Add(1)
	go c.heartbeats()
	return nil
}

// receive handles one message from the invalidation channel. Handlers run
// concurrently, in any order, and a message may come twice: an invalidation
// only drops keys, which is idempotent and commutes with every other drop,
// and heartbeats are ordered by their sequence number.
func (c *Client) receive(msg []byte) {
	if len(msg) < 1+originSize {
		c.malformed(msg)
		return
	}
	self := bytes.Equal(msg[1:1+originSize], c.origin[:])
	body := msg[1+originSize:]
	switch msg[0] {
	case msgInvalidate:
		if self {
			return // applied before it was published
		}
		keys, err := decodeKeys(body)
		if err != nil {
			c.malformed(msg)
			return
		}
		c.stats.invalidationsReceived.Add(1)
		_ = c.coord.Invalidate(keys) // fails only once closed
	case msgHeartbeat:
		seq, used := binary.Uvarint(body)
		if used <= 0 {
			c.malformed(msg)
			return
		}
		if self {
			c.heartbeatReceived(seq)
		}
	default:
		c.malformed(msg)
	}
}

func (c *Client) malformed(msg []byte) {
	c.stats.errors.Add(1)
	c.log(slog.LevelWarn, "dropped a malformed message on the invalidation channel", slog.Int("bytes", len(msg)))
}

// heartbeats publishes a heartbeat every interval and checks that the
// previous ones came back.
func (c *Client) heartbeats() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.beat()
		}
	}
}

func (c *Client) beat() {
	c.health.mu.Lock()
	silent := time.Since(c.health.lastSeen)
	c.health.nextSeq++
	seq := c.health.nextSeq
	c.health.mu.Unlock()

	if limit := c.opts.heartbeat * time.Duration(c.opts.missedHeartbeats); silent > limit {
		c.degrade(fmt.Sprintf("no heartbeat came back for %v", silent.Round(time.Millisecond)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.publishTimeout)
	defer cancel()
	if err := c.pub.Publish(ctx, c.opts.channel, encodeHeartbeat(c.origin, seq)); err != nil {
		c.degrade("publishing a heartbeat failed: " + err.Error())
	}
}

// degrade takes the subscription as lost: reads go around L1 until a
// heartbeat comes back.
func (c *Client) degrade(reason string) {
	c.health.mu.Lock()
	defer c.health.mu.Unlock()
	if c.degraded.Load() {
		return
	}
	c.degraded.Store(true)
	c.epoch.Add(1)
	c.stats.subscriptionLosses.Add(1)
	c.log(slog.LevelWarn, "invalidation subscription taken as lost; reading around L1", slog.String("reason", reason))
}

// heartbeatReceived records one of the client's own heartbeats. A heartbeat
// after a degraded period, or one that skips a sequence number, means
// invalidations may have been lost, so L1 is cleared.
func (c *Client) heartbeatReceived(seq uint64) {
	c.health.mu.Lock()
	defer c.health.mu.Unlock()
	if seq <= c.health.lastSeq {
		return // duplicate, or overtaken by a later heartbeat
	}
	gap := seq != c.health.lastSeq+1
	c.health.lastSeq = seq
	c.health.lastSeen = time.Now()
	wasDegraded := c.degraded.Load()
	if !gap && !wasDegraded {
		return
	}
	c.clearL1()
	if wasDegraded {
		c.degraded.Store(false)
		c.log(slog.LevelInfo, "invalidation subscription delivers again; L1 cleared")
	} else {
		c.log(slog.LevelWarn, "a heartbeat went missing; L1 cleared", slog.Uint64("seq", seq))
	}
}

// clearL1 makes every L1 entry filled so far a miss. coord.Reset comes first
// because, once it returns, no read that began before it can fill L1. A fill
// that races with the epoch bump below therefore either writes the old epoch,
// and is never served, or comes from a read that began after the
// subscription delivered again.
func (c *Client) clearL1() {
	_ = c.coord.Reset() // fails only once closed
	c.epoch.Add(1)
	c.stats.resets.Add(1)
}

// publish sends an invalidation of n keys; a failure leaves other
// processes stale for up to the L1 TTL, so it is counted and logged.
func (c *Client) publish(ctx context.Context, msg []byte, n int) {
	if err := c.pub.Publish(ctx, c.opts.channel, msg); err != nil {
		c.stats.errors.Add(1)
		c.stats.publishErrors.Add(1)
		c.log(slog.LevelWarn, "publishing an invalidation failed; other processes may serve the old values until their L1 TTL", slog.Int("keys", n), slog.Any("error", err))
		return
	}
	c.stats.invalidationsSent.Add(1)
}

func (c *Client) log(level slog.Level, msg string, attrs ...slog.Attr) {
	if c.opts.logger != nil {
		c.opts.logger.LogAttrs(context.Background(), level, "kv: tiered: "+msg, attrs...)
	}
}
