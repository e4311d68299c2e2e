package tiered

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/internal/valkeytest"
	"github.com/derp-kv/kv/local"
	"github.com/derp-kv/kv/remote"
)

// The servers every test shares; a test that pauses its server starts a
// private one.
var (
	standaloneServer *valkeytest.Server
	clusterServers   *valkeytest.Cluster
)

func TestMain(m *testing.M) {
	// goleak checks after the servers have stopped, because their process
	// waiters are goroutines too.
	goleak.VerifyTestMain(valkeytest.WithServers(m, func(s valkeytest.Servers) {
		standaloneServer, clusterServers = s.Standalone, s.Cluster
	}))
}

func standaloneConfig() remote.Config {
	return remoteConfig(remote.Standalone, standaloneServer)
}

func clusterConfig() remote.Config {
	return remoteConfig(remote.Cluster, clusterServers.Nodes...)
}

func remoteConfig(mode remote.Mode, servers ...*valkeytest.Server) remote.Config {
	cfg := remote.Config{Mode: mode, RequestTimeout: 5 * time.Second}
	for _, s := range servers {
		cfg.Addresses = append(cfg.Addresses, remote.Address{Host: s.Host, Port: s.Port})
	}
	return cfg
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newRemote returns a connected remote client; the tiered client that gets
// it closes it.
func newRemote(t testing.TB, cfg remote.Config) *remote.Client {
	t.Helper()
	r, err := remote.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, r.Connect(ctx))
	return r
}

func newLocal(t testing.TB) *local.Client {
	t.Helper()
	l, err := local.New(local.WithMaxCost(64 << 20))
	require.NoError(t, err)
	return l
}

// newClient returns a tiered client over a new local L1 and l2, as one
// process would have, closed when the test ends.
func newClient(t testing.TB, l2 kv.Client, opts ...Option) *Client {
	t.Helper()
	c, err := New(newLocal(t), l2, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func uniqueKey(t testing.TB, name string) []byte {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return []byte("tiered:" + hex.EncodeToString(b) + ":" + name)
}

// lossySubscriber wraps a remote client so that a test can drop, duplicate
// and reorder the messages its subscription delivers, as a flaky network
// would. Everything else goes to the real Valkey client.
type lossySubscriber struct {
	*remote.Client
	drop      atomic.Bool  // while true, messages are dropped
	duplicate bool         // deliver each message twice, on two goroutines
	delay     atomic.Int64 // nanoseconds each message is held back, as on a saturated machine
}

func (l *lossySubscriber) Subscribe(ctx context.Context, channel string, handler func([]byte)) (kv.Subscription, error) {
	s := &lossySubscription{}
	inner, err := l.Client.Subscribe(ctx, channel, func(msg []byte) {
		if l.drop.Load() {
			return
		}
		if d := time.Duration(l.delay.Load()); d > 0 {
			s.wg.Add(1)
			time.AfterFunc(d, func() {
				defer s.wg.Done()
				handler(msg)
			})
			return
		}
		if !l.duplicate {
			handler(msg)
			return
		}
		// Two deliveries racing each other and the next message reorder
		// and duplicate the stream.
		s.wg.Add(2)
		for range 2 {
			go func() {
				defer s.wg.Done()
				handler(msg)
			}()
		}
	})
	if err != nil {
		return nil, err
	}
	s.inner = inner
	return s, nil
}

type lossySubscription struct {
	inner kv.Subscription
	wg    sync.WaitGroup
}

// Close ends the subscription, then waits for the deliveries it started,
// so that no handler call starts after Close returns.
func (s *lossySubscription) Close() error {
	err := s.inner.Close()
	s.wg.Wait()
	return err
}
