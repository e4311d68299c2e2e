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
// sequence number and a uvarint send time, in nanoseconds since the client
// started on its monotonic clock. Only the sender reads a heartbeat's time.
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

func encodeHeartbeat(origin [originSize]byte, seq uint64, sent time.Duration) []byte {
	b := make([]byte, 0, 1+originSize+2*binary.MaxVarintLen64)
	b = append(b, msgHeartbeat)
	b = append(b, origin[:]...)
	b = binary.AppendUvarint(b, seq)
	return binary.AppendUvarint(b, uint64(sent))
}

// decodeHeartbeat parses the body of a heartbeat.
func decodeHeartbeat(b []byte) (seq uint64, sent time.Duration, err error) {
	seq, used := binary.Uvarint(b)
	if used <= 0 {
		return 0, 0, errMalformed
	}
	ns, n := binary.Uvarint(b[used:])
	if n <= 0 || used+n != len(b) || ns > 1<<63-1 {
		return 0, 0, errMalformed
	}
	return seq, time.Duration(ns), nil
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
// invalidation subscription still delivers, and how late.
type health struct {
	mu      sync.Mutex // guards the fields below and serialises state changes
	nextSeq uint64     // sequence number of the next heartbeat sent
	lastSeq uint64     // highest sequence number received
	// lastSent is when the newest heartbeat received was sent. Valkey
	// delivers a connection's messages in the order it processed the
	// publishes, so every invalidation published before that moment has
	// reached this process too.
	lastSent time.Time
}

func (c *Client) startInvalidation() error {
	pub, okPub := c.l2.(kv.Publisher)
	sub, okSub := c.l2.(kv.Subscriber)
	if !okPub || !okSub {
		return fmt.Errorf("kv: tiered: new: invalidation needs an L2 that implements kv.Publisher and kv.Subscriber, and %T does not; pass WithoutInvalidation() to run without it: %w", c.l2, kv.ErrUnsupported)
	}
	c.pub = pub
	c.health.lastSent = c.started
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
		seq, sent, err := decodeHeartbeat(body)
		if err != nil {
			c.malformed(msg)
			return
		}
		if self {
			c.heartbeatReceived(seq, c.started.Add(sent))
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

// beat publishes the next heartbeat after checking how far behind the
// subscription is. The check reads the send time of the newest heartbeat
// received, not its arrival time, so it also catches a subscription that
// still delivers but too late. On a saturated machine, invalidations queued
// behind slow handlers would otherwise leave L1 stale while no heartbeat
// goes missing.
func (c *Client) beat() {
	c.health.mu.Lock()
	behind := time.Since(c.health.lastSent)
	c.health.nextSeq++
	seq := c.health.nextSeq
	c.health.mu.Unlock()

	if behind > c.lagLimit() {
		c.degrade(fmt.Sprintf("the newest heartbeat received was sent %v ago", behind.Round(time.Millisecond)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.publishTimeout)
	defer cancel()
	if err := c.pub.Publish(ctx, c.opts.channel, encodeHeartbeat(c.origin, seq, time.Since(c.started))); err != nil {
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

// lagLimit is how long ago the newest heartbeat received may have been sent
// before the client stops trusting L1.
func (c *Client) lagLimit() time.Duration {
	return c.opts.heartbeat * time.Duration(c.opts.missedHeartbeats)
}

// StalenessBound returns how long after another process's write returned
// this Client may still return the old value from L1. With invalidation
// on, the check of the heartbeats runs once per interval, so the bound is
// the lag limit plus one interval: interval × (missed + 1), 4 s by default.
// It counts from the return of the write, which comes after its
// invalidation was published. Between the write reaching L2 and that
// return, the writer's publish takes one or, when it waits for another
// write's publish, two PUBLISH calls, which a slow L2 can stretch up to the
// publish timeout each. The bound assumes that the heartbeat goroutine and
// the message handlers get to run on time, so a process starved of CPU for
// longer can exceed it. Without
// invalidation, and for writes made outside package tiered, the bound is
// the L1 TTL cap.
func (c *Client) StalenessBound() time.Duration {
	if !c.opts.invalidation {
		return c.opts.l1TTL
	}
	return min(c.lagLimit()+c.opts.heartbeat, c.opts.l1TTL)
}

// heartbeatReceived records one of the client's own heartbeats, sent at
// sent. A heartbeat that skips a sequence number means invalidations may
// have been lost, so L1 is cleared. A degraded client recovers, clearing L1,
// only on a heartbeat that arrives within the lag limit.
func (c *Client) heartbeatReceived(seq uint64, sent time.Time) {
	c.health.mu.Lock()
	defer c.health.mu.Unlock()
	if seq <= c.health.lastSeq {
		return // duplicate, or overtaken by a later heartbeat
	}
	gap := seq != c.health.lastSeq+1
	c.health.lastSeq = seq
	c.health.lastSent = sent
	wasDegraded := c.degraded.Load()
	if wasDegraded && time.Since(sent) > c.lagLimit() {
		// Still behind: keep reading around L1 until a timely heartbeat.
		return
	}
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
