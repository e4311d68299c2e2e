package kv

import (
	"context"
	"iter"
	"time"
)

// NoExpiry is the ttl that [Client.TTL] reports for a key that exists and
// does not expire.
const NoExpiry time.Duration = -1

// Client is a byte-level key-value cache. The package documentation states
// the rules every implementation keeps. Implementations are safe for
// concurrent use by multiple goroutines.
type Client interface {
	// Connect establishes the connections the client needs. Tiers without a
	// network connection return nil. Calling it on a connected client is a
	// no-op.
	Connect(ctx context.Context) error
	// Close releases every resource of the client. It is idempotent; calls
	// made afterwards return ErrClosed.
	Close() error
	// Capabilities reports which optional behaviours the backend supports
	// natively.
	Capabilities() Capabilities

	// Get returns the value stored under key and whether it was found.
	Get(ctx context.Context, key []byte) (value []byte, found bool, err error)
	// Set stores value under key, replacing any value and expiry it had.
	Set(ctx context.Context, key, value []byte, ttl time.Duration) error
	// SetNX stores value under key only if the key does not exist, and
	// reports whether it did.
	SetNX(ctx context.Context, key, value []byte, ttl time.Duration) (set bool, err error)
	// Delete removes key and reports whether it existed.
	Delete(ctx context.Context, key []byte) (deleted bool, err error)
	// Exists reports whether key exists.
	Exists(ctx context.Context, key []byte) (bool, error)
	// MGet returns the values of keys in order, with nil for each missing key.
	MGet(ctx context.Context, keys [][]byte) ([][]byte, error)
	// MSet stores every item with the same ttl.
	MSet(ctx context.Context, items []Item, ttl time.Duration) error
	// DeleteMany removes keys and returns how many of them existed.
	DeleteMany(ctx context.Context, keys [][]byte) (deleted int, err error)
	// TTL returns the time key has left to live, or NoExpiry.
	TTL(ctx context.Context, key []byte) (ttl time.Duration, found bool, err error)
	// Expire sets a new positive ttl on an existing key and reports whether
	// the key existed.
	Expire(ctx context.Context, key []byte, ttl time.Duration) (bool, error)
	// Incr adds one to the decimal integer stored under key and returns the
	// new value.
	Incr(ctx context.Context, key []byte) (int64, error)
	// Scan yields the keys that start with prefix, at most limit of them
	// when limit > 0. An error ends the sequence.
	Scan(ctx context.Context, prefix []byte, limit int) iter.Seq2[[]byte, error]
}

// Item is one key and value for [Client.MSet].
type Item struct {
	Key   []byte
	Value []byte
}

// Capabilities lists the behaviours a backend provides natively, so a
// caller can choose a strategy. Every Client still implements every method.
type Capabilities struct {
	// TTL is true when the backend expires keys by itself.
	TTL bool
	// Scan is true when the backend can list keys by prefix.
	Scan bool
	// Batch is true when MGet, MSet and DeleteMany cost one round trip
	// rather than one per key.
	Batch bool
}
