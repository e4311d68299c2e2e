package remote

import (
	"context"
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

func TestCloseFailsCallsInFlight(t *testing.T) {
	s := privateServer(t)
	c := privateClient(t, s, Config{RequestTimeout: 10 * time.Second})
	pauseServer(t, s, "5000")

	done := getInFlight(t, c, context.Background())
	start := time.Now()
	require.NoError(t, c.Close())
	require.ErrorIs(t, <-done, kv.ErrClosed)
	assert.Less(t, time.Since(start), 2*time.Second, "Close must not wait for the paused server")
}

func TestCanceledRequestThenClose(t *testing.T) {
	// A request cancelled by its context leaves a GLIDE goroutine waiting
	// for the core's reply; TestMain's leak check shows whether closing the
	// client ends it.
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

// TestCancelDuringCloseReturnsErrClosed checks both sides of the rule in
// begin: Close waits for a request abandoned before it began, and a
// request whose context ends after it began stays with GLIDE until Close
// fails it.
func TestCancelDuringCloseReturnsErrClosed(t *testing.T) {
	s := privateServer(t)
	cfg := Config{RequestTimeout: time.Second}
	cfg.Addresses = []Address{{Host: s.Host, Port: s.Port}}
	c, err := New(cfg)
	require.NoError(t, err)
	// Subscribing opens the subscription client now, because the pause
	// would hold up its handshake.
	_, err = c.Subscribe(context.Background(), "open", func([]byte) {})
	require.NoError(t, err)
	before := goleak.IgnoreCurrent()

	pauseServer(t, s, "3000")

	// The first Get is abandoned before Close, so Close waits for GLIDE's
	// core to time it out, about RequestTimeout from now.
	abandonedCtx, cancelAbandoned := context.WithCancel(context.Background())
	abandonedDone := getInFlight(t, c, abandonedCtx)
	time.Sleep(50 * time.Millisecond) // lets the GET reach the server
	cancelAbandoned()
	abandonedAt := time.Now()
	require.ErrorIs(t, <-abandonedDone, context.Canceled)

	// The second Get and the Subscribe start later, so that their own
	// timeouts run out only after Close has closed GLIDE.
	time.Sleep(300 * time.Millisecond)
	getCtx, cancelGet := context.WithCancel(context.Background())
	defer cancelGet()
	getDone := make(chan error, 1)
	go func() {
		_, _, err := c.Get(getCtx, []byte("k"))
		getDone <- err
	}()
	subscribeCtx, cancelSubscribe := context.WithCancel(context.Background())
	defer cancelSubscribe()
	subscribeDone := make(chan error, 1)
	go func() {
		_, err := c.Subscribe(subscribeCtx, "paused", func([]byte) {})
		subscribeDone <- err
	}()
	require.Eventually(t, func() bool { return len(c.slots) == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // lets the GET and SUBSCRIBE reach the server

	closed := make(chan struct{})
	go func() {
		_ = c.Close()
		close(closed)
	}()
	require.Eventually(t, c.closed.Load, 5*time.Second, time.Millisecond)
	cancelGet()
	cancelSubscribe()
	err = <-getDone
	require.ErrorIs(t, err, kv.ErrClosed, "a Get cancelled during Close")
	assert.True(t, strings.HasPrefix(err.Error(), "kv: remote: get: "), err.Error())
	err = <-subscribeDone
	require.ErrorIs(t, err, kv.ErrClosed, "a Subscribe cancelled during Close")
	assert.True(t, strings.HasPrefix(err.Error(), "kv: remote: subscribe: "), err.Error())
	<-closed
	assert.GreaterOrEqual(t, time.Since(abandonedAt), cfg.RequestTimeout,
		"Close waits for the request abandoned before it")

	// The pause ends and the request timeouts pass, so GLIDE's core has
	// replied to every request it was sent.
	time.Sleep(3 * time.Second)
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
