// Package ttl holds the expiry rules that every tier shares, so that local
// and remote round and reject durations the same way.
package ttl

import (
	"fmt"
	"time"

	"github.com/derp-kv/kv"
)

// ForWrite checks a ttl given to Set, SetNX or MSet and returns it rounded
// up to a whole millisecond. It returns 0 (no expiry) for 0, and an error
// wrapping kv.ErrInvalidTTL for a negative ttl.
func ForWrite(ttl time.Duration) (time.Duration, error) {
	if ttl < 0 {
		return 0, fmt.Errorf("%w: %v is negative (use 0 for no expiry)", kv.ErrInvalidTTL, ttl)
	}
	return roundUp(ttl), nil
}

// ForExpire checks a ttl given to Expire, which must be positive, and
// returns it rounded up to a whole millisecond.
func ForExpire(ttl time.Duration) (time.Duration, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("%w: %v is not positive (Expire needs a positive ttl)", kv.ErrInvalidTTL, ttl)
	}
	return roundUp(ttl), nil
}

// Millis returns a ttl already checked by ForWrite or ForExpire as a whole
// number of milliseconds.
func Millis(ttl time.Duration) int64 {
	return int64(roundUp(ttl) / time.Millisecond)
}

func roundUp(ttl time.Duration) time.Duration {
	if rem := ttl % time.Millisecond; rem != 0 {
		// Overflow only near 292 years; clamp rather than wrap negative.
		if ttl > time.Duration(1<<63-1)-time.Millisecond {
			return ttl - rem
		}
		return ttl - rem + time.Millisecond
	}
	return ttl
}
