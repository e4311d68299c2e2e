package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// referenceQuantile returns the value of rank ceil(q*n) in sorted, the
// definition Histogram.Quantile approximates.
func referenceQuantile(sorted []int64, q float64) int64 {
	rank := int(float64(len(sorted))*q + 0.999999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func TestHistogramQuantilesWithinError(t *testing.T) {
	distributions := []struct {
		name string
		draw func(r *rand.Rand) int64
	}{
		{"uniform microseconds", func(r *rand.Rand) int64 { return r.Int64N(int64(time.Millisecond)) }},
		{"exponential", func(r *rand.Rand) int64 { return int64(r.ExpFloat64() * float64(200*time.Microsecond)) }},
		{"long tail", func(r *rand.Rand) int64 {
			if r.IntN(1000) == 0 {
				return r.Int64N(int64(5 * time.Second))
			}
			return 50_000 + r.Int64N(100_000)
		}},
		{"small exact values", func(r *rand.Rand) int64 { return r.Int64N(100) }},
	}
	for _, d := range distributions {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(1, 2))
			h := newHistogram()
			values := make([]int64, 100_000)
			for i := range values {
				values[i] = d.draw(r)
				h.Record(time.Duration(values[i]))
			}
			slices.Sort(values)
			for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
				want := float64(referenceQuantile(values, q))
				got := float64(h.Quantile(q))
				assert.InDeltaf(t, want, got, want*histRelativeError+0.5, "quantile %v", q)
			}
			assert.Equal(t, uint64(len(values)), h.Count())
			assert.Equal(t, time.Duration(values[len(values)-1]), h.Max())
		})
	}
}

func TestHistogramMergeEqualsSingle(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	whole := newHistogram()
	parts := []*Histogram{newHistogram(), newHistogram(), newHistogram()}
	for i := range 30_000 {
		d := time.Duration(r.Int64N(int64(10 * time.Millisecond)))
		whole.Record(d)
		parts[i%3].Record(d)
	}
	merged := newHistogram()
	for _, p := range parts {
		merged.Merge(p)
	}
	assert.Equal(t, whole.counts, merged.counts)
	assert.Equal(t, whole.Count(), merged.Count())
	assert.Equal(t, whole.Max(), merged.Max())
	assert.Equal(t, whole.Quantile(0.999), merged.Quantile(0.999))
}

func TestHistogramWireRoundTrip(t *testing.T) {
	h := newHistogram()
	for _, d := range []time.Duration{0, 1, 127, 128, time.Microsecond, time.Second, time.Hour} {
		h.Record(d)
	}
	back := histogramFromWire(h.wire())
	assert.Equal(t, h.counts, back.counts)
	assert.Equal(t, h.Count(), back.Count())
	assert.Equal(t, h.Max(), back.Max())
	assert.Equal(t, h.Mean(), back.Mean())
}

func TestHistogramEdgeCases(t *testing.T) {
	h := newHistogram()
	assert.Zero(t, h.Quantile(0.5), "empty histogram")
	assert.Zero(t, h.Max())

	h.Record(-5 * time.Second)
	assert.Equal(t, time.Duration(0), h.Quantile(1), "negative durations count as 0")

	h = newHistogram()
	h.Record(100 * time.Hour)
	require.Equal(t, uint64(1), h.Count())
	assert.Equal(t, 100*time.Hour, h.Max(), "max keeps the exact value")
	assert.Equal(t, 100*time.Hour, h.Quantile(0.5), "the recorded minimum and maximum bound every quantile")
	assert.Equal(t, histBuckets-1, bucketIndex(int64(100*time.Hour)), "values beyond the range go to the last bucket")
}

func TestBucketIndexContiguous(t *testing.T) {
	prev := -1
	for v := int64(0); v < 1<<16; v++ {
		i := bucketIndex(v)
		require.True(t, i == prev || i == prev+1, "value %d jumps from bucket %d to %d", v, prev, i)
		low, width := bucketBounds(i)
		require.True(t, v >= low && v < low+width, "value %d outside its bucket [%d, %d)", v, low, low+width)
		prev = i
	}
	assert.Equal(t, histBuckets-1, bucketIndex(histMaxValue))
}
