package remote

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/internal/valkeytest"
)

// privateServer starts a server for one test, which may pause it.
func privateServer(t *testing.T, args ...string) *valkeytest.Server {
	t.Helper()
	s, err := valkeytest.Start(args...)
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s
}

func privateClient(t *testing.T, s *valkeytest.Server, cfg Config) *Client {
	t.Helper()
	cfg.Addresses = []Address{{Host: s.Host, Port: s.Port}}
	c, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestSlotWaitHonoursContext(t *testing.T) {
	s := privateServer(t)
	c := privateClient(t, s, Config{MaxInFlight: 2})
	c.slots <- struct{}{}
	c.slots <- struct{}{}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := c.Get(ctx, []byte("k"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, strings.HasPrefix(err.Error(), "kv: remote: get: "), err.Error())

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	err = c.Set(ctx, []byte("k"), []byte("v"), 0)
	require.ErrorIs(t, err, context.Canceled)

	// A caller waiting for a slot wakes up when the client closes.
	done := make(chan error, 1)
	go func() {
		_, err := c.Incr(context.Background(), []byte("n"))
		done <- err
	}()
	require.NoError(t, c.Close())
	require.ErrorIs(t, <-done, kv.ErrClosed)
}

// TestCloseFailsCallsInFlight checks that Close fails a call in flight at
// once, and waits for its request to come back from GLIDE (here, GLIDE's
// timeout on the paused server) before it closes GLIDE.
func TestCloseFailsCallsInFlight(t *testing.T) {
	s := privateServer(t)
	cfg := Config{RequestTimeout: time.Second}
	c := privateClient(t, s, cfg)
	pauseServer(t, s, "3000")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := getInFlight(t, c, ctx)
	sent := time.Now()
	closed := make(chan struct{})
	go func() {
		assert.NoError(t, c.Close())
		close(closed)
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, kv.ErrClosed)
	case <-closed:
		t.Fatal("Close returned before the call in flight failed")
	}
	<-closed
	assert.GreaterOrEqual(t, time.Since(sent), cfg.RequestTimeout-100*time.Millisecond,
		"Close must wait for GLIDE to give up on the request")
}

func TestCanceledRequestThenClose(t *testing.T) {
	// A caller whose context ends returns at once, while its request runs
	// on until GLIDE's core times it out. Close waits for that, and
	// TestMain's leak check shows that nothing is left behind.
	s := privateServer(t)
	c := privateClient(t, s, Config{RequestTimeout: time.Second})
	pauseServer(t, s, "3000")

	ctx, cancel := context.WithCancel(context.Background())
	done := getInFlight(t, c, ctx)
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	start := time.Now()
	require.NoError(t, c.Close())
	assert.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond,
		"Close waits for GLIDE's request timeout after a cancellation")
}

// TestCancelDuringCloseLeavesNoGoroutine cancels a request after Close has
// begun, while a subscription handler is still running. GLIDE must not
// abandon that request, because Close would not wait for the goroutine
// GLIDE leaves behind.
func TestCancelDuringCloseLeavesNoGoroutine(t *testing.T) {
	s := privateServer(t)
	cfg := Config{RequestTimeout: 2 * time.Second}
	cfg.Addresses = []Address{{Host: s.Host, Port: s.Port}}
	c, err := New(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = c.Exists(ctx, []byte("warm-up"))
	require.NoError(t, err)
	before := goleak.IgnoreCurrent()

	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	_, err = c.Subscribe(ctx, "ch", func([]byte) {
		entered <- struct{}{}
		<-release
	})
	require.NoError(t, err)
	require.NoError(t, c.Publish(ctx, "ch", []byte("m")))
	<-entered

	pauseServer(t, s, "1500")
	getCtx, cancelGet := context.WithCancel(context.Background())
	defer cancelGet()
	getDone := getInFlight(t, c, getCtx)
	time.Sleep(50 * time.Millisecond) // lets the GET reach the server

	closed := make(chan struct{})
	go func() {
		_ = c.Close()
		close(closed)
	}()
	require.Eventually(t, c.closed.Load, 5*time.Second, time.Millisecond)
	cancelGet()
	close(release)
	require.ErrorIs(t, <-getDone, kv.ErrClosed)
	<-closed

	// The pause ends and the request timeout passes, so GLIDE's core has
	// replied to every request it was sent.
	time.Sleep(cfg.RequestTimeout + time.Second)
	require.NoError(t, goleak.Find(before), "goroutines left behind by Close")
}

// TestCloseWaitsForAbandonedRequests ends one caller's context before
// Close and another's during it. Both return at once, and Close returns only
// after GLIDE has given up on both requests, so no goroutine of this client
// or of GLIDE is left when it does.
func TestCloseWaitsForAbandonedRequests(t *testing.T) {
	s := privateServer(t)
	cfg := Config{RequestTimeout: time.Second}
	cfg.Addresses = []Address{{Host: s.Host, Port: s.Port}}
	c, err := New(cfg)
	require.NoError(t, err)
	before := goleak.IgnoreCurrent()
	pauseServer(t, s, "3000")

	earlyCtx, cancelEarly := context.WithCancel(context.Background())
	early := getInFlight(t, c, earlyCtx)
	time.Sleep(50 * time.Millisecond) // lets the GET reach the server
	cancelEarly()
	require.ErrorIs(t, <-early, context.Canceled)
	earlySent := time.Now()

	lateCtx, cancelLate := context.WithCancel(context.Background())
	defer cancelLate()
	late := make(chan error, 1)
	go func() {
		_, _, err := c.Get(lateCtx, []byte("k"))
		late <- err
	}()
	require.Eventually(t, func() bool { return len(c.slots) == 2 }, 5*time.Second, time.Millisecond)

	closed := make(chan struct{})
	go func() {
		assert.NoError(t, c.Close())
		close(closed)
	}()
	require.Eventually(t, c.closed.Load, 5*time.Second, time.Millisecond)
	cancelLate()
	err = <-late
	require.Error(t, err, "a Get cancelled during Close")
	assert.True(t, errors.Is(err, kv.ErrClosed) || errors.Is(err, context.Canceled), err.Error())
	assert.True(t, strings.HasPrefix(err.Error(), "kv: remote: get: "), err.Error())

	<-closed
	assert.GreaterOrEqual(t, time.Since(earlySent), cfg.RequestTimeout-100*time.Millisecond,
		"Close waits for the request abandoned before it")
	require.NoError(t, goleak.Find(before), "goroutines left behind by Close")
}

func TestEscapeGlob(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a*b", `a\*b`},
		{`?[x]\`, `\?\[x\]\\`},
		{"", ""},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, escapeGlob(tc.in), tc.in)
	}
}

// FuzzEscapeGlob checks the escaped prefix against path.Match, whose
// pattern syntax agrees with the server's MATCH for '*', '?', '[', ']' and
// '\' on text without '/'.
func FuzzEscapeGlob(f *testing.F) {
	for _, s := range []string{"a", "*", "?x", "[a-z]", `\`, `a\*`, "]", "[", "\x00\xff"} {
		f.Add(s, "tail")
	}
	f.Fuzz(func(t *testing.T, prefix, tail string) {
		if strings.Contains(prefix+tail, "/") {
			return
		}
		pattern := escapeGlob(prefix) + "*"
		ok, err := path.Match(pattern, prefix+tail)
		require.NoError(t, err, "pattern %q", pattern)
		assert.True(t, ok, "pattern %q must match %q", pattern, prefix+tail)
		if len(prefix) > 0 {
			// Changing any byte of the prefix must stop the match.
			changed := []byte(prefix)
			changed[len(changed)-1] ^= 1
			if string(changed) != prefix && !strings.Contains(string(changed), "/") {
				ok, err = path.Match(pattern, string(changed)+tail)
				require.NoError(t, err)
				assert.False(t, ok, "pattern %q must not match %q", pattern, string(changed)+tail)
			}
		}
	})
}

// pauseServer pauses every client of s for ms milliseconds, and ends the
// pause when the test ends.
func pauseServer(t *testing.T, s *valkeytest.Server, ms string) {
	t.Helper()
	_, err := s.CLI("CLIENT", "PAUSE", ms)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = s.CLI("CLIENT", "UNPAUSE") })
}

// getInFlight starts a Get of "k" on c under ctx and returns once the
// request holds its in-flight slot. The Get's error arrives on the channel.
func getInFlight(t *testing.T, c *Client, ctx context.Context) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Get(ctx, []byte("k"))
		done <- err
	}()
	require.Eventually(t, func() bool { return len(c.slots) == 1 }, 5*time.Second, time.Millisecond)
	return done
}
