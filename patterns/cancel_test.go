package patterns_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv/internal/valkeytest"
	"github.com/derp-kv/kv/patterns"
	"github.com/derp-kv/kv/remote"
)

// The tests here end a caller's context while its claim or lock is queued
// behind a server that pauses writes. The server runs the SET NX once the
// pause ends, although the caller has given up, so the helper that sent it
// must release what it may have stored.

// pausableClient starts a server of the test's own, so that pausing it
// disturbs no other test, and a client on it.
func pausableClient(t *testing.T) (*valkeytest.Server, *remote.Client) {
	t.Helper()
	s, err := valkeytest.Start()
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s, connectRemote(t, remoteConfig(remote.Standalone, s))
}

// callDuringWritePause pauses writes on s for 700 ms and runs call with a
// context that ends after 200 ms, while call's first write waits on the
// server. It returns call's error once the pause is over.
func callDuringWritePause(t *testing.T, s *valkeytest.Server, call func(ctx context.Context) error) error {
	t.Helper()
	_, err := s.CLI("CLIENT", "PAUSE", "700", "WRITE")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	callErr := call(ctx)
	time.Sleep(900 * time.Millisecond)
	return callErr
}

// keyCount returns the number of keys on s.
func keyCount(t *testing.T, s *valkeytest.Server) string {
	t.Helper()
	out, err := s.CLI("DBSIZE")
	require.NoError(t, err)
	return strings.TrimSpace(out)
}

func TestIdempotentExecuteCancelledClaimReleased(t *testing.T) {
	s, c := pausableClient(t)
	key := uniqueKey(t)
	compute := func(context.Context) (string, error) { return "ok", nil }

	err := callDuringWritePause(t, s, func(ctx context.Context) error {
		_, err := patterns.IdempotentExecute(ctx, c, key, compute)
		return err
	})
	require.ErrorIs(t, err, context.DeadlineExceeded, "the first call must fail with its context")
	assert.Equal(t, "0", keyCount(t, s), "no claim may be left behind")

	res, err := patterns.IdempotentExecute(testContext(t), c, key, compute, patterns.WithoutWaiting())
	require.NoError(t, err, "a retry must find the key free")
	assert.False(t, res.Replay)
	assert.Equal(t, "ok", res.Body)
}

func TestHandleEventCancelledClaimReleased(t *testing.T) {
	s, c := pausableClient(t)
	event := uniqueKey(t)
	handler := func(context.Context) error { return nil }

	err := callDuringWritePause(t, s, func(ctx context.Context) error {
		_, err := patterns.HandleEvent(ctx, c, event, handler)
		return err
	})
	require.ErrorIs(t, err, context.DeadlineExceeded, "the first delivery must fail with its context")
	assert.Equal(t, "0", keyCount(t, s), "no claim may be left behind")

	processed, err := patterns.HandleEvent(testContext(t), c, event, handler)
	require.NoError(t, err, "a redelivery must find the event free")
	assert.True(t, processed)
}

func TestGuardedGetCancelledLockReleased(t *testing.T) {
	s, c := pausableClient(t)
	key := []byte(uniqueKey(t))
	compute := func(context.Context) ([]byte, error) { return []byte("v"), nil }

	err := callDuringWritePause(t, s, func(ctx context.Context) error {
		_, err := patterns.GuardedGet(ctx, c, key, time.Minute, compute)
		return err
	})
	require.ErrorIs(t, err, context.DeadlineExceeded, "the first call must fail with its context")
	assert.Equal(t, "0", keyCount(t, s), "no lock may be left behind")
}
