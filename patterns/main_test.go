package patterns_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/internal/valkeytest"
	"github.com/derp-kv/kv/local"
	"github.com/derp-kv/kv/remote"
)

// The servers the tests share, started by TestMain.
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

// backend is one deployment a test runs against. Clients made by connect
// for a shared backend read and write the same data. Each local client is
// its own store, so tests of two processes use one client on local.
type backend struct {
	name   string
	shared bool // whether separate clients share data, as processes on Valkey do
	// cli runs valkey-cli against the backend, following cluster redirects;
	// nil for local.
	cli     func(args ...string) (string, error)
	connect func(t testing.TB) kv.Client
}

func remoteBackends() []backend {
	return []backend{
		{
			name: "standalone", shared: true,
			cli:     standaloneServer.CLI,
			connect: remoteConnector(remoteConfig(remote.Standalone, standaloneServer)),
		},
		{
			name: "cluster", shared: true,
			cli: func(args ...string) (string, error) {
				return clusterServers.Nodes[0].CLI(append([]string{"-c"}, args...)...)
			},
			connect: remoteConnector(remoteConfig(remote.Cluster, clusterServers.Nodes...)),
		},
	}
}

func allBackends() []backend {
	return append(remoteBackends(), backend{name: "local", connect: connectLocal})
}

// forEach runs test as one subtest per backend.
func forEach(t *testing.T, backends []backend, test func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

// remoteConfig uses a request timeout well above the 250 ms default,
// because 2 cores running several packages under -race can stall a request
// that long.
func remoteConfig(mode remote.Mode, servers ...*valkeytest.Server) remote.Config {
	cfg := remote.Config{Mode: mode, RequestTimeout: 5 * time.Second}
	for _, s := range servers {
		cfg.Addresses = append(cfg.Addresses, remote.Address{Host: s.Host, Port: s.Port})
	}
	return cfg
}

func remoteConnector(cfg remote.Config) func(t testing.TB) kv.Client {
	return func(t testing.TB) kv.Client {
		t.Helper()
		return connectRemote(t, cfg)
	}
}

func connectRemote(t testing.TB, cfg remote.Config) *remote.Client {
	t.Helper()
	c, err := remote.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Connect(ctx))
	// GLIDE v2.5.3 creates its OpenTelemetry singleton lazily in
	// GetOtelInstance without synchronisation, a data race the race
	// detector reports when the first commands run concurrently. One
	// command before the concurrent ones avoids it.
	_, err = c.Exists(ctx, []byte("warm-up"))
	require.NoError(t, err)
	return c
}

func connectLocal(t testing.TB) kv.Client {
	t.Helper()
	c, err := local.New()
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// uniqueKey returns a key no other test uses, printable so that valkey-cli
// can name it.
func uniqueKey(t testing.TB) string {
	t.Helper()
	suffix := make([]byte, 6)
	_, err := rand.Read(suffix)
	require.NoError(t, err)
	return strings.ReplaceAll(t.Name(), "/", ".") + ":" + hex.EncodeToString(suffix)
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
