//go:build !devfake

package guard

import (
	"context"
	"fmt"
	"net"
	"os"
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
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if code != 0 {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}

// run starts a standalone server and a cluster, runs the tests against both,
// and stops the servers before goleak looks for leftover goroutines.
func run(m *testing.M) (int, error) {
	server, err := valkeytest.Start()
	if err != nil {
		return 0, err
	}
	defer server.Stop()
	cluster, err := valkeytest.StartCluster(3)
	if err != nil {
		return 0, err
	}
	defer cluster.Stop()

	backends = []backend{
		{name: "standalone", connect: connector(remote.Config{Addresses: addresses(server.Addr()), Mode: remote.Standalone})},
		{name: "cluster", connect: connector(remote.Config{Addresses: addresses(cluster.Addrs()...), Mode: remote.Cluster})},
	}
	return m.Run(), nil
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
		return c
	}
}
