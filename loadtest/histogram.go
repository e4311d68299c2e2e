package main

import (
	"math"
	"math/bits"
	"time"
)

// Histogram buckets are log-linear, in the style of HdrHistogram: values
// below 2^histPrecision nanoseconds get one bucket each, and every power of
// two above that is split into 2^(histPrecision-1) equal buckets. A bucket is
// then never wider than 2^-(histPrecision-1) of its lower bound, so the
// midpoint that Quantile returns is within 2^-histPrecision (0.78 %) of every
// value in the bucket.
const (
	histPrecision  = 7
	histSubBuckets = 1 << (histPrecision - 1)
	// histMaxBits caps recorded values at 2^40 ns (about 18 minutes); longer
	// values are clamped, which no bounded run can reach.
	histMaxBits  = 40
	histBuckets  = (histMaxBits-histPrecision+1)*histSubBuckets + histSubBuckets
	histMaxValue = 1<<histMaxBits - 1
)

// histRelativeError is the largest relative distance between a value and
// the quantile Histogram reports for its rank.
const histRelativeError = 1.0 / (1 << histPrecision)

// Histogram records durations with a bounded relative error and reports
// quantiles of everything recorded. Each worker goroutine owns one, and the
// runner merges them at the end, so no quantile is ever an average of
// quantiles. It is not safe for concurrent use. The zero value is not ready:
// use newHistogram.
type Histogram struct {
	counts []uint64
	total  uint64
	sum    float64
	min    int64
	max    int64
}

func newHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, histBuckets), min: math.MaxInt64}
}

// bucketIndex maps a value in nanoseconds to its bucket.
func bucketIndex(v int64) int {
	if v < 0 {
		v = 0
	}
	if v > histMaxValue {
		v = histMaxValue
	}
	n := bits.Len64(uint64(v))
	if n <= histPrecision {
		return int(v)
	}
	shift := n - histPrecision
	return shift*histSubBuckets + int(v>>shift)
}

// bucketBounds returns the smallest value of bucket i and its width.
func bucketBounds(i int) (low, width int64) {
	if i < 1<<histPrecision {
		return int64(i), 1
	}
	shift := i/histSubBuckets - 1
	mantissa := int64(i - shift*histSubBuckets)
	return mantissa << shift, 1 << shift
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketIndex(v)]++
	h.total++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Quantile returns the value at quantile q (0 < q <= 1): the midpoint of the
// bucket that holds the value of rank ceil(q*count), clamped to the smallest
// and largest values recorded. It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen < rank {
			continue
		}
		low, width := bucketBounds(i)
		mid := low + (width-1)/2
		return time.Duration(min(max(mid, h.min), h.max))
	}
	return time.Duration(h.max)
}

// Mean returns the arithmetic mean of the recorded values.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Max returns the largest recorded value.
func (h *Histogram) Max() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.max)
}

// histogramWire is the form in which a fleet process sends a histogram to
// its parent: only the buckets that hold values, as index and count pairs.
type histogramWire struct {
	Buckets [][2]uint64 `json:"buckets"`
	Sum     float64     `json:"sum"`
	Min     int64       `json:"min"`
	Max     int64       `json:"max"`
}

func (h *Histogram) wire() histogramWire {
	w := histogramWire{Sum: h.sum, Min: h.min, Max: h.max}
	for i, c := range h.counts {
		if c > 0 {
			w.Buckets = append(w.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return w
}

func histogramFromWire(w histogramWire) *Histogram {
	h := newHistogram()
	for _, b := range w.Buckets {
		if b[0] >= histBuckets {
			continue
		}
		h.counts[b[0]] += b[1]
		h.total += b[1]
	}
	if h.total > 0 {
		h.sum, h.min, h.max = w.Sum, w.Min, w.Max
	}
	return h
}
