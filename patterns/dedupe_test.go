package patterns_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/patterns"
)

func TestAlreadyProcessed(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		event := "evt\x00" + uniqueKey(t)

		seen, err := patterns.AlreadyProcessed(ctx, c, event)
		require.NoError(t, err)
		assert.False(t, seen, "first delivery")
		seen, err = patterns.AlreadyProcessed(ctx, c, event)
		require.NoError(t, err)
		assert.True(t, seen, "second delivery")

		ttl, found, err := c.TTL(ctx, []byte(patterns.DefaultDedupePrefix+":"+event))
		require.NoError(t, err)
		require.True(t, found)
		assert.Greater(t, ttl, 23*time.Hour)
		assert.LessOrEqual(t, ttl, 24*time.Hour)
	})
}

func TestHandleEventRetriesAfterFailure(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		event := uniqueKey(t)
		var calls atomic.Int32
		failOnce := func(context.Context) error {
			if calls.Add(1) == 1 {
				return errors.New("downstream timeout")
			}
			return nil
		}

		processed, err := patterns.HandleEvent(ctx, c, event, failOnce)
		require.EqualError(t, err, "downstream timeout")
		assert.False(t, processed)

		processed, err = patterns.HandleEvent(ctx, c, event, failOnce)
		require.NoError(t, err)
		assert.True(t, processed, "the redelivery is processed")

		processed, err = patterns.HandleEvent(ctx, c, event, failOnce)
		require.NoError(t, err)
		assert.False(t, processed, "a delivery after success")
		assert.Equal(t, int32(2), calls.Load(), "handler calls")
	})
}

func TestHandleEventConcurrentDeliveries(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		clients := 2
		if !b.shared {
			clients = 1
		}
		const deliveries = 32
		ctx := testContext(t)
		event := uniqueKey(t)
		cs := make([]kv.Client, clients)
		for i := range cs {
			cs[i] = b.connect(t)
		}
		var calls, processedCount, claimed atomic.Int32
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range deliveries {
			c := cs[i%clients]
			wg.Go(func() {
				<-start
				processed, err := patterns.HandleEvent(ctx, c, event, func(context.Context) error {
					calls.Add(1)
					time.Sleep(20 * time.Millisecond) // the work the other deliveries race
					return nil
				})
				switch {
				case errors.Is(err, patterns.ErrEventClaimed):
					claimed.Add(1)
				case assert.NoError(t, err) && processed:
					processedCount.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()

		assert.Equal(t, int32(1), calls.Load(), "handler calls")
		assert.Equal(t, int32(1), processedCount.Load(), "deliveries reporting processed")
		processed, err := patterns.HandleEvent(ctx, cs[0], event, func(context.Context) error {
			return errors.New("the handler must not run again")
		})
		require.NoError(t, err)
		assert.False(t, processed)
	})
}

func TestClaimLeaseExpiry(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		event := uniqueKey(t)
		lease := patterns.WithClaimLease(50 * time.Millisecond)

		stale, err := patterns.ClaimEvent(ctx, c, event, lease)
		require.NoError(t, err)
		_, err = patterns.ClaimEvent(ctx, c, event, lease)
		require.ErrorIs(t, err, patterns.ErrEventClaimed)

		var fresh *patterns.EventClaim
		require.Eventually(t, func() bool {
			fresh, err = patterns.ClaimEvent(ctx, c, event, patterns.WithClaimLease(time.Minute))
			return err == nil
		}, 5*time.Second, 5*time.Millisecond, "the lease never expired")

		require.NoError(t, stale.Release(ctx), "releasing an expired claim")
		require.ErrorIs(t, stale.Complete(ctx), patterns.ErrClaimLost)
		_, err = patterns.ClaimEvent(ctx, c, event)
		require.ErrorIs(t, err, patterns.ErrEventClaimed, "the stale claim released the fresh one")

		require.NoError(t, fresh.Complete(ctx))
		_, err = patterns.ClaimEvent(ctx, c, event)
		require.ErrorIs(t, err, patterns.ErrEventDone)
	})
}
