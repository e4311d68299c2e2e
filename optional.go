package kv

import (
	"context"
	"time"
)

// The interfaces below are implemented by some Clients in addition to
// [Client]. Packages tiered, coordinator and patterns detect them with a type
// assertion, so that they never import a backend's driver: a program that
// uses only package local builds without cgo. Package remote implements all
// of them on Valkey with Lua scripts and pub/sub; package local implements
// Swapper, TTLCounter and Viewer in process, and package tiered implements
// Viewer on top of its L1.

// Swapper changes a key only while it still holds an expected value, as one
// atomic step. Locks use it so that only their owner can release them.
type Swapper interface {
	// CompareAndSwap stores value under key with ttl (0 means no expiry) if
	// the key currently holds old, or if old is nil and the key does not
	// exist. It reports whether it stored the value.
	CompareAndSwap(ctx context.Context, key, old, value []byte, ttl time.Duration) (bool, error)
	// CompareAndDelete deletes key if it currently holds old, and reports
	// whether it did.
	CompareAndDelete(ctx context.Context, key, old []byte) (bool, error)
}

// TTLCounter increments a counter and gives it an expiry in one atomic step,
// so that no counter can be left without a ttl by a crash or a race between
// the two steps. Fixed-window rate limiters rely on it.
type TTLCounter interface {
	// IncrWithTTL adds one to the integer under key (a missing key counts
	// as 0) and, when the key has no expiry afterwards, sets ttl on it. It
	// returns the new count and the time the key has left to live. It fails
	// with ErrNotInteger as Incr does, and with ErrInvalidTTL for a ttl that
	// is not positive.
	IncrWithTTL(ctx context.Context, key []byte, ttl time.Duration) (count int64, remaining time.Duration, err error)
}

// Viewer reads a value without copying it. [Client.Get] copies every value
// it returns, so that the caller owns the slice. For a large value the copy
// is most of the cost of a hit, and a caller that only decodes or writes out
// the bytes does not need it.
type Viewer interface {
	// View returns the value stored under key as Get does, but the slice
	// may be shared with the cache and with other callers: the caller must
	// not modify it, or any slice of it. The slice stays valid as long as
	// the caller keeps it: a later write to the key stores a new value and
	// leaves the viewed bytes as they are. The slice's capacity equals its
	// length, so an append copies instead of writing into shared memory.
	View(ctx context.Context, key []byte) (value []byte, found bool, err error)
}

// Publisher sends a message to every subscriber of a channel, in every
// process connected to the same backend.
type Publisher interface {
	// Publish sends message on channel and returns once the backend has
	// accepted it. Subscribers that are disconnected at that moment never
	// receive it.
	Publish(ctx context.Context, channel string, message []byte) error
}

// Subscriber delivers the messages published on a channel.
//
// Messages may arrive out of order, more than once, or not at all while the
// connection is down, and handlers may run concurrently: a protocol built on
// top must tolerate all of that.
type Subscriber interface {
	// Subscribe calls handler with the payload of every message published on
	// channel until the returned Subscription is closed. It returns once the
	// subscription is active on the backend. Handlers must not block for
	// long; the payload slice is the handler's to keep.
	Subscribe(ctx context.Context, channel string, handler func(message []byte)) (Subscription, error)
}

// Subscription is an active subscription returned by [Subscriber.Subscribe].
type Subscription interface {
	// Close ends the subscription. No handler call starts after Close
	// returns. It is idempotent.
	Close() error
}
