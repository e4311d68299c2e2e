package kv

import "errors"

var (
	// ErrClosed is returned by every method of a Client after Close, and by
	// calls still in flight when Close runs.
	ErrClosed = errors.New("kv: client is closed")

	// ErrInvalidTTL is returned by Set, SetNX and MSet for a negative ttl,
	// and by Expire for a ttl that is not positive.
	ErrInvalidTTL = errors.New("kv: invalid ttl")

	// ErrNotInteger is returned by Incr when the stored value is not a
	// decimal int64 or the increment would overflow. The value is left as it
	// was.
	ErrNotInteger = errors.New("kv: value is not an integer or out of range")

	// ErrUnsupported is returned by helpers that need an optional interface
	// (such as [Swapper]) that the given Client does not implement.
	ErrUnsupported = errors.New("kv: operation not supported by this client")
)
