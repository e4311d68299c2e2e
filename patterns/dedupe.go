package patterns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/derp-kv/kv"
)

// Defaults of AlreadyProcessed and ClaimEvent.
const (
	DefaultDedupePrefix = "derp:webhook"
	DefaultDedupeTTL    = 24 * time.Hour
	DefaultClaimLease   = 30 * time.Second
)

var (
	// ErrEventDone is returned by ClaimEvent when the event has been
	// processed.
	ErrEventDone = errors.New("kv: patterns: event already processed")
	// ErrEventClaimed is returned by ClaimEvent and HandleEvent while
	// another delivery holds the claim on the event. A webhook handler
	// responds to it with an error status, so that the sender redelivers later.
	ErrEventClaimed = errors.New("kv: patterns: event is being processed by another delivery")
	// ErrClaimLost is returned by EventClaim.Complete when the lease expired
	// before it, and another delivery has claimed or completed the event
	// since: the event may have been processed twice.
	ErrClaimLost = errors.New("kv: patterns: claim lease expired before completion")
)

// doneMarker is the value of a processed event's key.
var doneMarker = []byte("done")

// DedupeOption configures AlreadyProcessed, ClaimEvent and HandleEvent.
type DedupeOption func(*dedupeConfig)

type dedupeConfig struct {
	prefix string
	ttl    time.Duration
	lease  time.Duration
}

// WithDedupePrefix sets the key prefix (default "derp:webhook"). The stored
// key is prefix + ":" + eventID.
func WithDedupePrefix(prefix string) DedupeOption {
	return func(c *dedupeConfig) { c.prefix = prefix }
}

// WithDedupeTTL sets how long a processed event is remembered (default
// 24 h). Size it above the longest time the sender redelivers an event.
func WithDedupeTTL(d time.Duration) DedupeOption {
	return func(c *dedupeConfig) { c.ttl = d }
}

// WithClaimLease sets how long a claim holds an event before another
// delivery may process it (default 30 s). Size it above the slowest
// handler; it also bounds how long a crashed handler blocks its event.
func WithClaimLease(d time.Duration) DedupeOption {
	return func(c *dedupeConfig) { c.lease = d }
}

func newDedupeConfig(opts []DedupeOption) (dedupeConfig, error) {
	cfg := dedupeConfig{prefix: DefaultDedupePrefix, ttl: DefaultDedupeTTL, lease: DefaultClaimLease}
	if err := applyOptions("dedupe", &cfg, opts); err != nil {
		return cfg, err
	}
	if cfg.ttl <= 0 || cfg.lease <= 0 {
		return cfg, fmt.Errorf("kv: patterns: dedupe: ttl (%v) and claim lease (%v) must be positive", cfg.ttl, cfg.lease)
	}
	return cfg, nil
}

func (cfg dedupeConfig) key(eventID string) []byte {
	return []byte(cfg.prefix + ":" + eventID)
}

// AlreadyProcessed marks eventID as seen for the TTL (default 24 h) with one
// SET NX and reports whether it was seen before. Only the first call for an
// event gets false. It marks the event before it is processed, so an event
// whose handler then fails is never retried. When a failed event must be
// processed on its redelivery, use HandleEvent, or ClaimEvent with Complete
// and Release. An error does not mean the event is unmarked: a request that
// failed or was cancelled here may still have run on the server.
func AlreadyProcessed(ctx context.Context, c kv.Client, eventID string, opts ...DedupeOption) (bool, error) {
	cfg, err := newDedupeConfig(opts)
	if err != nil {
		return false, err
	}
	set, err := c.SetNX(ctx, cfg.key(eventID), doneMarker, cfg.ttl)
	if err != nil {
		return false, fmt.Errorf("kv: patterns: already processed: mark %q: %w", eventID, err)
	}
	return !set, nil
}

// EventClaim is a delivery's exclusive, leased hold on an event, returned by
// ClaimEvent. End it with Complete or Release. Its methods are safe for
// concurrent use, though a claim is normally used by one goroutine.
type EventClaim struct {
	c       kv.Client
	swapper kv.Swapper
	key     []byte
	value   []byte // the claim's token, which only this claim stores
	cfg     dedupeConfig
}

// ClaimEvent claims eventID for the lease (default 30 s), so that no other
// delivery processes it at the same time. It returns ErrEventDone when the
// event has been processed and ErrEventClaimed while another delivery holds
// it. c must implement kv.Swapper; otherwise the error wraps
// kv.ErrUnsupported.
func ClaimEvent(ctx context.Context, c kv.Client, eventID string, opts ...DedupeOption) (*EventClaim, error) {
	cfg, err := newDedupeConfig(opts)
	if err != nil {
		return nil, err
	}
	swapper, ok := c.(kv.Swapper)
	if !ok {
		return nil, fmt.Errorf("kv: patterns: claim event: %T does not implement kv.Swapper, which claims need: %w", c, kv.ErrUnsupported)
	}
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return nil, fmt.Errorf("kv: patterns: claim event: make token: %w", err)
	}
	claim := &EventClaim{c: c, swapper: swapper, key: cfg.key(eventID), value: []byte("claim:" + hex.EncodeToString(token)), cfg: cfg}

	// A claim that ends between SetNX and Get leaves the key missing; a
	// second attempt then takes it. Two attempts missing it in a row means
	// other deliveries keep taking and releasing the event.
	for range 2 {
		set, err := c.SetNX(ctx, claim.key, claim.value, cfg.lease)
		if err != nil {
			releaseUncertainClaim(ctx, swapper, claim.key, claim.value, cfg.lease)
			return nil, fmt.Errorf("kv: patterns: claim event %q: %w", eventID, err)
		}
		if set {
			return claim, nil
		}
		current, found, err := c.Get(ctx, claim.key)
		if err != nil {
			return nil, fmt.Errorf("kv: patterns: claim event %q: %w", eventID, err)
		}
		if found && bytes.Equal(current, doneMarker) {
			return nil, fmt.Errorf("%w: %q", ErrEventDone, eventID)
		}
		if found {
			return nil, fmt.Errorf("%w: %q", ErrEventClaimed, eventID)
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrEventClaimed, eventID)
}

// Complete marks the event processed for the TTL (default 24 h), so later
// deliveries get ErrEventDone. It returns ErrClaimLost if the lease expired
// and another delivery has claimed or completed the event since.
func (cl *EventClaim) Complete(ctx context.Context) error {
	swapped, err := cl.swapper.CompareAndSwap(ctx, cl.key, cl.value, doneMarker, cl.cfg.ttl)
	if err != nil {
		return fmt.Errorf("kv: patterns: complete event: %w", err)
	}
	if swapped {
		return nil
	}
	// The lease expired. If no other delivery has claimed the event since,
	// it is still ours to mark.
	set, err := cl.c.SetNX(ctx, cl.key, doneMarker, cl.cfg.ttl)
	if err != nil {
		return fmt.Errorf("kv: patterns: complete event: %w", err)
	}
	if !set {
		return fmt.Errorf("%w: %q", ErrClaimLost, cl.key)
	}
	return nil
}

// Release gives the event up, so that the next delivery processes it. It
// deletes only this claim: after the lease has expired and another delivery
// has claimed the event, Release changes nothing.
func (cl *EventClaim) Release(ctx context.Context) error {
	if _, err := cl.swapper.CompareAndDelete(ctx, cl.key, cl.value); err != nil {
		return fmt.Errorf("kv: patterns: release event: %w", err)
	}
	return nil
}

// HandleEvent runs handler for eventID unless the event has been processed
// or another delivery is processing it, and reports whether handler ran and
// succeeded. It claims the event, runs handler, and then completes the claim
// when handler succeeds or releases it when handler fails or panics, so a
// redelivery processes a failed event again. It returns (false, nil) for an
// event already processed, and ErrEventClaimed while another delivery holds
// the event. A handler error is returned as is.
func HandleEvent(ctx context.Context, c kv.Client, eventID string, handler func(context.Context) error, opts ...DedupeOption) (processed bool, err error) {
	claim, err := ClaimEvent(ctx, c, eventID, opts...)
	if errors.Is(err, ErrEventDone) {
		return false, nil
	}
	if err != nil {
		return false, err
	}

	// The release after a failure uses a context detached from ctx, because
	// a claim left behind blocks redeliveries for the whole lease.
	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claim.cfg.lease)
		defer cancel()
		_ = claim.Release(rctx)
	}
	panicking := true
	defer func() {
		if panicking {
			release()
		}
	}()
	err = handler(ctx)
	panicking = false
	if err != nil {
		release()
		return false, err
	}

	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claim.cfg.lease)
	defer cancel()
	if err := claim.Complete(cctx); err != nil {
		return true, err
	}
	return true, nil
}
