package patterns

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func FuzzGCRADecide(f *testing.F) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	f.Add(int64(math.MinInt64), now, int64(time.Minute), 100)
	f.Add(now+int64(time.Minute), now, int64(time.Minute), 100)
	f.Add(now+int64(time.Hour), now, int64(time.Second), 1)
	f.Add(now-int64(time.Hour), now, int64(time.Millisecond), 1000)
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64-1), int64(math.MaxInt64), math.MaxInt32)
	f.Fuzz(func(t *testing.T, tat, now, window int64, limit int) {
		if window <= 0 || limit <= 0 || window/int64(limit) <= 0 {
			return // RateLimit rejects these before gcraDecide
		}
		if now < 0 || now > math.MaxInt64/2 {
			return // time.Now in Unix nanoseconds, which holds until the year 2262
		}
		interval := time.Duration(window / int64(limit))
		d := gcraDecide(tat, now, interval, limit)
		res := d.res

		assert.Equal(t, limit, res.Limit)
		assert.GreaterOrEqual(t, res.Remaining, 0)
		assert.LessOrEqual(t, res.Remaining, limit)
		assert.GreaterOrEqual(t, res.Count, int64(0))
		if res.Allowed {
			assert.Equal(t, time.Duration(0), res.RetryAfter)
			assert.Greater(t, d.tat, now, "an allowed request moves the arrival time past now")
			assert.LessOrEqual(t, res.Count, int64(limit))
		} else {
			assert.Greater(t, res.RetryAfter, time.Duration(0))
			assert.Equal(t, 0, res.Remaining)
		}
	})
}

// FuzzGCRABurst checks that an empty bucket allows exactly limit requests
// at one instant, whatever the rounding of window/limit.
func FuzzGCRABurst(f *testing.F) {
	f.Add(int64(time.Second), 10)
	f.Add(int64(10), 9)
	f.Add(int64(1000), 3)
	f.Add(int64(time.Hour), 1)
	f.Fuzz(func(t *testing.T, window int64, limit int) {
		if window <= 0 || limit <= 0 || limit > 1000 || window/int64(limit) <= 0 {
			return
		}
		interval := time.Duration(window / int64(limit))
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
		tat := int64(math.MinInt64)
		for i := range limit {
			d := gcraDecide(tat, now, interval, limit)
			require.True(t, d.res.Allowed, "request %d of a burst of %d", i+1, limit)
			assert.Equal(t, limit-i-1, d.res.Remaining)
			tat = d.tat
		}
		d := gcraDecide(tat, now, interval, limit)
		require.False(t, d.res.Allowed, "request %d of a burst of %d", limit+1, limit)
		assert.Equal(t, interval, d.res.RetryAfter, "the next slot opens one interval later")
	})
}

func FuzzFixedWindowResult(f *testing.F) {
	f.Add(int64(1), 1, int64(time.Second))
	f.Add(int64(101), 100, int64(0))
	f.Add(int64(math.MaxInt64), math.MaxInt32, int64(-1))
	f.Fuzz(func(t *testing.T, count int64, limit int, remaining int64) {
		if count <= 0 || limit <= 0 {
			return // IncrWithTTL returns counts from 1, and limits are positive
		}
		res := fixedWindowResult(count, limit, time.Duration(remaining))
		assert.Equal(t, count <= int64(limit), res.Allowed)
		assert.GreaterOrEqual(t, res.Remaining, 0)
		assert.LessOrEqual(t, res.Remaining, limit)
		if res.Allowed {
			assert.Equal(t, time.Duration(0), res.RetryAfter)
			assert.Equal(t, int64(limit)-count, int64(res.Remaining))
		} else {
			assert.GreaterOrEqual(t, res.RetryAfter, time.Millisecond)
		}
	})
}
