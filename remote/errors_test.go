package remote_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	glide "github.com/valkey-io/valkey-glide/go/v2"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/internal/valkeytest"
	"github.com/derp-kv/kv/remote"
)

func privateServer(t *testing.T, args ...string) *valkeytest.Server {
	t.Helper()
	s, err := valkeytest.Start(args...)
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s
}

func TestNewClosedPort(t *testing.T) {
	for _, mode := range []remote.Mode{remote.Standalone, remote.Cluster} {
		t.Run(mode.String(), func(t *testing.T) {
			port := freePort(t) // nothing listens on it
			cfg := remote.Config{
				Mode:           mode,
				Addresses:      []remote.Address{{Host: "127.0.0.1", Port: port}},
				Password:       secret,
				ConnectTimeout: 200 * time.Millisecond,
			}
			_, err := remote.New(cfg)
			require.Error(t, err)
			msg := err.Error()
			t.Log(msg)
			assert.Contains(t, msg, fmt.Sprintf("kv: remote: connect to 127.0.0.1:%d (%s): ", port, mode))
			assert.NotContains(t, msg, secret)
			assert.Equal(t, strings.TrimSpace(msg), msg, "the message must fit one log line")
		})
	}
}

func TestNewWrongPassword(t *testing.T) {
	// valkeytest.Start waits for PONG, which a server started with
	// --requirepass does not send, so the password is set afterwards.
	s := privateServer(t)
	_, err := s.CLI("CONFIG", "SET", "requirepass", "right-password")
	require.NoError(t, err)
	cfg := remote.Config{Addresses: []remote.Address{addressOf(s)}, Password: secret}
	_, err = remote.New(cfg)
	require.Error(t, err)
	msg := err.Error()
	t.Log(msg)
	assert.Contains(t, msg, "kv: remote: connect to "+s.Addr())
	assert.Contains(t, msg, "WRONGPASS", "the reason must be in the message")
	assert.NotContains(t, msg, secret)

	cfg.Password = "right-password"
	c := newClient(t, cfg)
	require.NoError(t, c.Set(testContext(t), []byte("k"), []byte("v"), 0))
}

func TestRequestTimeoutIsDeadlineExceeded(t *testing.T) {
	s := privateServer(t)
	cfg := remote.Config{Addresses: []remote.Address{addressOf(s)}, RequestTimeout: 200 * time.Millisecond}
	c := newClient(t, cfg)
	_, err := s.CLI("CLIENT", "PAUSE", "1500")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = s.CLI("CLIENT", "UNPAUSE") })

	_, _, err = c.Get(context.Background(), []byte("k"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var timeout *glide.TimeoutError
	assert.ErrorAs(t, err, &timeout, "GLIDE's error stays reachable")
	assert.True(t, strings.HasPrefix(err.Error(), "kv: remote: get: "), err.Error())

	// A context deadline shorter than the request timeout wins.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Incr(ctx, []byte("n"))
	require.ErrorIs(t, err, context.DeadlineExceeded)

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = c.Exists(ctx, []byte("k"))
	require.ErrorIs(t, err, context.Canceled)
}

func TestNotInteger(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := testContext(t)
			c := newClient(t, mode.config())
			text := []byte(uniqueKey(t, "text"))
			require.NoError(t, c.Set(ctx, text, []byte("abc"), 0))
			_, err := c.Incr(ctx, text)
			require.ErrorIs(t, err, kv.ErrNotInteger)
			_, _, err = c.IncrWithTTL(ctx, text, time.Minute)
			require.ErrorIs(t, err, kv.ErrNotInteger)

			big := []byte(uniqueKey(t, "big"))
			require.NoError(t, c.Set(ctx, big, []byte("9223372036854775807"), 0))
			_, err = c.Incr(ctx, big)
			require.ErrorIs(t, err, kv.ErrNotInteger, "overflow")
			_, _, err = c.IncrWithTTL(ctx, big, time.Minute)
			require.ErrorIs(t, err, kv.ErrNotInteger, "overflow in the script")
			v, _, err := c.Get(ctx, big)
			require.NoError(t, err)
			assert.Equal(t, "9223372036854775807", string(v), "the value is unchanged")
		})
	}
}

func TestServerErrorKeepsMessage(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, standaloneConfig())
	k := uniqueKey(t, "list")
	_, err := c.Standalone().LPush(ctx, k, []string{"x"})
	require.NoError(t, err)
	_, _, err = c.Get(ctx, []byte(k))
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "kv: remote: get: "), err.Error())
	assert.Contains(t, err.Error(), "WRONGTYPE")
}

func TestClosed(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			c, err := remote.New(mode.config())
			require.NoError(t, err)
			require.NoError(t, c.Close())
			require.NoError(t, c.Close())
			ctx := testContext(t)
			require.ErrorIs(t, c.Connect(ctx), kv.ErrClosed)
			_, err = c.CompareAndSwap(ctx, []byte("k"), nil, []byte("v"), 0)
			require.ErrorIs(t, err, kv.ErrClosed)
			_, err = c.CompareAndDelete(ctx, []byte("k"), []byte("v"))
			require.ErrorIs(t, err, kv.ErrClosed)
			_, _, err = c.IncrWithTTL(ctx, []byte("k"), time.Second)
			require.ErrorIs(t, err, kv.ErrClosed)
			require.ErrorIs(t, c.Publish(ctx, "ch", []byte("m")), kv.ErrClosed)
			_, err = c.Subscribe(ctx, "ch", func([]byte) {})
			require.ErrorIs(t, err, kv.ErrClosed)
		})
	}
}

// TestInFlightBound sends 3,000 concurrent Gets while the server is paused,
// through remote.Client and, as the baseline, straight through GLIDE,
// which rejects requests beyond 1,000 in flight.
func TestInFlightBound(t *testing.T) {
	s := privateServer(t)
	cfg := remote.Config{Addresses: []remote.Address{addressOf(s)}, RequestTimeout: 20 * time.Second}
	ours := newClient(t, cfg)
	raw := newClient(t, cfg).Standalone()
	ctx := testContext(t)
	require.NoError(t, ours.Set(ctx, []byte("k"), []byte("v"), 0))

	// The pause must outlast starting 6,000 goroutines under -race, and
	// stay below the request timeout.
	_, err := s.CLI("CLIENT", "PAUSE", "2000")
	require.NoError(t, err)

	const callers = 3000
	var (
		wg         sync.WaitGroup
		oursFailed atomic.Int64
		rawFailed  atomic.Int64
		firstErr   atomic.Value
	)
	for range callers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			v, found, err := ours.Get(ctx, []byte("k"))
			if err != nil || !found || string(v) != "v" {
				oursFailed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprint(err))
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := raw.Get(ctx, "k"); err != nil {
				rawFailed.Add(1)
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, oursFailed.Load(), "Gets through remote.Client failed, first: %v", firstErr.Load())
	assert.Positive(t, rawFailed.Load(), "the baseline shows GLIDE's own limit")
}

func TestErrorsAreWrapped(t *testing.T) {
	// Bad input fails before any request, with the operation named.
	c := newClient(t, standaloneConfig())
	err := c.Set(testContext(t), []byte("k"), []byte("v"), -time.Second)
	require.ErrorIs(t, err, kv.ErrInvalidTTL)
	assert.True(t, strings.HasPrefix(err.Error(), "kv: remote: set: "), err.Error())
	_, err = c.Expire(testContext(t), []byte("k"), 0)
	require.ErrorIs(t, err, kv.ErrInvalidTTL)
	_, _, err = c.IncrWithTTL(testContext(t), []byte("k"), 0)
	require.ErrorIs(t, err, kv.ErrInvalidTTL)
	assert.False(t, errors.Is(err, kv.ErrClosed))
}

// TestCloseUnderLoad closes a client while goroutines run every kind of
// call, some with contexts that end mid-request. Each call must succeed or
// fail with kv.ErrClosed or its context's error, and TestMain's leak check
// covers the goroutines GLIDE starts for the abandoned requests.
func TestCloseUnderLoad(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			cfg := mode.config()
			cfg.RequestTimeout = time.Second
			c, err := remote.New(cfg)
			require.NoError(t, err)
			prefix := uniqueKey(t, "p")
			_, err = c.Subscribe(testContext(t), prefix, func([]byte) {})
			require.NoError(t, err)

			var wg sync.WaitGroup
			var calls, unexpected atomic.Int64
			var firstUnexpected atomic.Value
			stop := make(chan struct{})
			for g := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%5)*100*time.Microsecond+50*time.Microsecond)
						if i%3 == 0 {
							ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
						}
						err := loadCall(ctx, c, prefix, g, i)
						cancel()
						calls.Add(1)
						if err != nil && !errors.Is(err, kv.ErrClosed) && !errors.Is(err, context.DeadlineExceeded) {
							unexpected.Add(1)
							firstUnexpected.CompareAndSwap(nil, err.Error())
						}
					}
				}()
			}
			require.Eventually(t, func() bool { return calls.Load() > 500 }, 20*time.Second, time.Millisecond)
			require.NoError(t, c.Close())
			close(stop)
			wg.Wait()
			assert.Zero(t, unexpected.Load(), "first unexpected error: %v", firstUnexpected.Load())
		})
	}
}

func loadCall(ctx context.Context, c *remote.Client, prefix string, g, i int) error {
	key := []byte(fmt.Sprintf("%s:%d:%d", prefix, g, i%20))
	switch i % 7 {
	case 0:
		return c.Set(ctx, key, []byte("v"), time.Minute)
	case 1:
		_, _, err := c.Get(ctx, key)
		return err
	case 2:
		_, err := c.MGet(ctx, [][]byte{key, []byte(prefix)})
		return err
	case 3:
		return c.MSet(ctx, []kv.Item{{Key: key, Value: []byte("w")}}, time.Minute)
	case 4:
		_, _, err := c.IncrWithTTL(ctx, []byte(fmt.Sprintf("%s:n%d", prefix, g)), time.Minute)
		return err
	case 5:
		for _, err := range c.Scan(ctx, []byte(prefix), 5) {
			if err != nil {
				return err
			}
		}
		return nil
	default:
		return c.Publish(ctx, prefix, []byte("m"))
	}
}

func TestNewClusterModeOnStandaloneServer(t *testing.T) {
	cfg := standaloneConfig()
	cfg.Mode = remote.Cluster
	cfg.ConnectTimeout = 500 * time.Millisecond
	_, err := remote.New(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "(cluster): ")
	assert.Contains(t, err.Error(), "a standalone server fails this way", "the error must point at the likely cause")
}
