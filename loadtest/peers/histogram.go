package main

import (
	"math"
	"math/bits"
	"time"
)

// Latencies go into log-linear buckets: every value under 2^precisionBits
// nanoseconds has a bucket of its own, and each power of two above that is
// split into 2^(precisionBits-1) equal buckets. A bucket's width is then at
// most 1/64 of its lower bound, so a reported quantile is within about 0.8 %
// of the true value of its rank.
const (
	precisionBits = 7
	subBuckets    = 1 << (precisionBits - 1)
	// maxBits clamps values at 2^40 ns (about 18 minutes), far above any
	// bounded run.
	maxBits    = 40
	numBuckets = (maxBits-precisionBits+1)*subBuckets + subBuckets
	maxValue   = 1<<maxBits - 1
)

// histogram counts durations in log-linear buckets. Each worker goroutine
// owns one, and they are merged before any quantile is read, so no quantile
// is an average of quantiles. It is not safe for concurrent use.
type histogram struct {
	counts   []uint64
	total    uint64
	min, max int64
}

func newHistogram() *histogram {
	return &histogram{counts: make([]uint64, numBuckets), min: math.MaxInt64}
}

func bucketOf(v int64) int {
	v = min(max(v, 0), maxValue)
	n := bits.Len64(uint64(v))
	if n <= precisionBits {
		return int(v)
	}
	shift := n - precisionBits
	return shift*subBuckets + int(v>>shift)
}

// bucketMidpoint returns the middle of bucket i in nanoseconds.
func bucketMidpoint(i int) int64 {
	if i < 1<<precisionBits {
		return int64(i)
	}
	shift := i/subBuckets - 1
	low := int64(i-shift*subBuckets) << shift
	return low + (int64(1)<<shift-1)/2
}

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	h.counts[bucketOf(v)]++
	h.total++
	h.min = min(h.min, max(v, 0))
	h.max = max(h.max, v)
}

func (h *histogram) merge(o *histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// quantile returns the value of rank ceil(q × count), as the midpoint of its
// bucket clamped to the recorded minimum and maximum, or 0 when the
// histogram is empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := min(max(uint64(math.Ceil(q*float64(h.total))), 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(bucketMidpoint(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
