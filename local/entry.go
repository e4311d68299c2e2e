package local

import (
	"math"
	"slices"
	"strconv"
)

// entryOverhead is the cost charged for each entry on top of its key and
// value bytes. It covers the entry struct, ristretto's store slot (a map
// slot of 56 bytes at a load factor between 7/16 and 7/8) and its policy
// slot (16 bytes, same load factors). TestMemoryBudget measured up to 256
// bytes per entry for small entries, and docs/local.md gives the figures.
const entryOverhead = 256

// entry is the value stored in ristretto for one key. Ristretto keeps only
// hashes of keys, so the entry carries its key: Get checks it against the
// key asked for, and Scan reads keys from ristretto's store.
//
// An entry is never modified once it is stored; a write stores a new
// entry. Readers may therefore copy from it without a lock.
type entry struct {
	// data is the key followed by the value, in one allocation whose
	// capacity is rounded up to the allocator's size class.
	data   []byte
	keyLen int
	// expireAt is the deadline in nanoseconds since Client.epoch on the
	// monotonic clock, or 0 for no expiry.
	expireAt int64
	// cost is the entry's charge against the budget, in bytes.
	cost int64
}

// newEntry copies key and value into a new entry.
func newEntry(key, value []byte, expireAt int64) *entry {
	// slices.Grow rounds the capacity up to the allocator's size class, so
	// cap(data) is the memory the bytes really take.
	data := slices.Grow([]byte(nil), len(key)+len(value))
	data = append(data, key...)
	data = append(data, value...)
	return &entry{
		data:     data,
		keyLen:   len(key),
		expireAt: expireAt,
		cost:     int64(cap(data)) + entryOverhead,
	}
}

// withExpiry returns an entry with the same key and value and another
// deadline. The two share data, which neither ever modifies.
func (e *entry) withExpiry(expireAt int64) *entry {
	return &entry{data: e.data, keyLen: e.keyLen, expireAt: expireAt, cost: e.cost}
}

func (e *entry) key() []byte {
	return e.data[:e.keyLen:e.keyLen]
}

func (e *entry) value() []byte {
	return e.data[e.keyLen:]
}

// hasKey reports whether the entry is stored under key. Ristretto
// identifies a key by two 64-bit hashes, and comparing the key itself turns
// a collision into a miss instead of a wrong value.
func (e *entry) hasKey(key []byte) bool {
	return string(e.data[:e.keyLen]) == string(key)
}

// expired reports whether the entry's deadline is at or before now, given
// in nanoseconds since Client.epoch.
func (e *entry) expired(now int64) bool {
	return e.expireAt != 0 && e.expireAt <= now
}

// copyBytes returns a copy of b that is never nil, so that a stored empty
// value reads back as a non-nil empty slice.
func copyBytes(b []byte) []byte {
	out := make([]byte, len(b))
	copy(out, b)
	return out
}

// parseCounter parses b as Valkey's INCR does: an optional minus sign and
// decimal digits with no leading zero, sign "+" or space, within int64. It
// reports false for anything else, so that local and remote reject the
// same values.
func parseCounter(b []byte) (int64, bool) {
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	negative := len(b) > 0 && b[0] == '-'
	digits := b
	if negative {
		digits = b[1:]
	}
	if len(digits) == 0 || digits[0] < '1' || digits[0] > '9' {
		return 0, false
	}

	// limit is the magnitude of math.MinInt64 or math.MaxInt64.
	limit := uint64(math.MaxInt64)
	if negative {
		limit++
	}
	var n uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (limit-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if negative {
		return int64(-n), true
	}
	return int64(n), true
}

// formatCounter appends n to dst as decimal ASCII, as Incr stores it.
func formatCounter(dst []byte, n int64) []byte {
	return strconv.AppendInt(dst, n, 10)
}
