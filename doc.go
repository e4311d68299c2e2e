// Package kv defines the contract of a two-tier key-value cache. The
// [Client] interface is implemented by the in-process tier (package local),
// the Valkey tier (package remote) and their composition (package tiered).
// The package also holds the errors they return and the optional interfaces
// through which higher layers reach features that only some backends have.
//
// Code written against [Client] runs unchanged on any tier, so a service can
// start on local alone in tests and move to tiered in production. Package
// kvtest checks that an implementation keeps every rule below.
//
// # Keys and values
//
// Keys and values are arbitrary byte strings: NUL, 0xff, invalid UTF-8 and
// the empty key are all valid. No implementation keeps a reference to a
// slice the caller passed, and every returned slice is the caller's to
// modify: changing either side after a call never changes what is stored.
//
// # Expiry
//
// A ttl of 0 passed to Set, SetNX or MSet means the key does not expire. A
// negative ttl is rejected with [ErrInvalidTTL]. A positive ttl under one
// millisecond is rounded up to one millisecond, never down to "no expiry",
// because expiry is kept in milliseconds. Expire needs a positive ttl.
//
// Set and MSet replace the value and clear any earlier expiry. Incr keeps the
// expiry the key had. TTL reports found=false for a missing key and
// [NoExpiry] for a key without expiry.
//
// # Batches
//
// MGet returns one entry per key, in the order given: nil for a missing key,
// and a non-nil empty slice for a stored empty value. Empty key lists return
// at once without a round trip. DeleteMany counts each key that existed once,
// even when the list names it twice.
//
// # Counters
//
// Incr treats a missing key as 0, stores the result as decimal ASCII (a Get
// afterwards returns "5", not a binary integer), and fails with
// [ErrNotInteger], leaving the value unchanged, when the stored value is not
// a decimal int64 or the increment would overflow.
//
// # Scan
//
// Scan yields every live key that starts with the literal prefix at most
// once. Glob characters (* ? [ ] \) in the prefix match only themselves. A
// limit of 0 or less means no limit. Breaking out of the range loop early is
// safe and releases what the scan holds.
//
// # Context and lifetime
//
// A call whose context is cancelled or past its deadline returns promptly
// with an error for which errors.Is(err, context.Canceled) or
// errors.Is(err, context.DeadlineExceeded) holds. After Close every call
// returns [ErrClosed]. Close may be called more than once and leaves no
// goroutine of the client running.
package kv
