package guard

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/internal/valkeytest"
	"github.com/derp-kv/kv/remote"
)

func TestMain(m *testing.M) {
	// goleak checks after the servers have stopped, because their process
	// waiters are goroutines too.
	goleak.VerifyTestMain(valkeytest.WithServers(m, func(s valkeytest.Servers) {
		// A request timeout well above the 250 ms default, because 2 cores
		// running several packages under -race can stall a request that long.
		backends = []backend{
			{name: "standalone", connect: connector(remote.Config{
				Addresses: addresses(s.Standalone.Addr()), Mode: remote.Standalone, RequestTimeout: 5 * time.Second,
			})},
			{name: "cluster", connect: connector(remote.Config{
				Addresses: addresses(s.Cluster.Addrs()...), Mode: remote.Cluster, RequestTimeout: 5 * time.Second,
			})},
		}
	}))
}

func addresses(hostPorts ...string) []remote.Address {
	out := make([]remote.Address, 0, len(hostPorts))
	for _, hp := range hostPorts {
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			panic(err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			panic(err)
		}
		out = append(out, remote.Address{Host: host, Port: p})
	}
	return out
}

// connector returns a function that connects a new remote client for cfg,
// closed when the test ends.
func connector(cfg remote.Config) func(t *testing.T) kv.Client {
	return func(t *testing.T) kv.Client {
		t.Helper()
		c, err := remote.New(cfg)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Connect(ctx))
		t.Cleanup(func() { _ = c.Close() })
		// GLIDE v2.5.3 creates its OpenTelemetry singleton lazily in
		// GetOtelInstance without synchronisation, a data race the race
		// detector reports when the first commands run concurrently. One
		// command before the concurrent ones avoids it.
		_, err = c.Exists(ctx, []byte("warm-up"))
		require.NoError(t, err)
		return c
	}
}
