package ttl

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/derp-kv/kv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestForWrite(t *testing.T) {
	tests := []struct {
		name string
		in   time.Duration
		want time.Duration
	}{
		{"zero means no expiry", 0, 0},
		{"one nanosecond rounds up", time.Nanosecond, time.Millisecond},
		{"sub-millisecond rounds up", 999 * time.Microsecond, time.Millisecond},
		{"whole milliseconds stay", 1500 * time.Millisecond, 1500 * time.Millisecond},
		{"fraction rounds up", 1500*time.Millisecond + 1, 1501 * time.Millisecond},
		{"largest does not wrap", math.MaxInt64, math.MaxInt64 - math.MaxInt64%time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ForWrite(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, int64(tc.want/time.Millisecond), Millis(tc.in))
		})
	}
}

func TestForWriteRejectsNegative(t *testing.T) {
	_, err := ForWrite(-time.Nanosecond)
	require.ErrorIs(t, err, kv.ErrInvalidTTL)
	assert.Contains(t, err.Error(), "-1ns is negative")
}

func TestForExpire(t *testing.T) {
	got, err := ForExpire(time.Microsecond)
	require.NoError(t, err)
	assert.Equal(t, time.Millisecond, got)

	for _, bad := range []time.Duration{0, -time.Second} {
		_, err := ForExpire(bad)
		require.ErrorIs(t, err, kv.ErrInvalidTTL, "ForExpire(%v)", bad)
		assert.Contains(t, err.Error(), "not positive")
	}
}

func FuzzForWrite(f *testing.F) {
	for _, seed := range []int64{0, 1, 999_999, 1_000_000, 1_000_001, math.MaxInt64, -1} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		in := time.Duration(n)
		got, err := ForWrite(in)
		if in < 0 {
			require.ErrorIs(t, err, kv.ErrInvalidTTL)
			return
		}
		require.NoError(t, err)
		require.Zero(t, got%time.Millisecond, "%v is not whole milliseconds", got)
		if in == 0 {
			require.Zero(t, got)
			return
		}
		// Rounded up by less than a millisecond, or down only at the very
		// top of the range where rounding up would overflow.
		require.Positive(t, got)
		if in <= math.MaxInt64-time.Millisecond {
			require.GreaterOrEqual(t, got, in)
			require.Less(t, got-in, time.Millisecond)
		}
	})
}
