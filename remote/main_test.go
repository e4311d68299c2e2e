package remote_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/internal/valkeytest"
	"github.com/derp-kv/kv/kvtest"
	"github.com/derp-kv/kv/remote"
)

// The servers every test shares; tests that pause or restart a server start
// a private one instead.
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

// addressOf converts a valkeytest server to a remote.Address.
func addressOf(s *valkeytest.Server) remote.Address {
	return remote.Address{Host: s.Host, Port: s.Port}
}

func standaloneConfig() remote.Config {
	return remote.Config{
		Addresses:      []remote.Address{addressOf(standaloneServer)},
		RequestTimeout: 5 * time.Second,
	}
}

func clusterConfig() remote.Config {
	cfg := remote.Config{Mode: remote.Cluster, RequestTimeout: 5 * time.Second}
	for _, n := range clusterServers.Nodes {
		cfg.Addresses = append(cfg.Addresses, addressOf(n))
	}
	return cfg
}

// modes lists the two deployments that mode-independent tests run against.
var modes = []struct {
	name   string
	config func() remote.Config
}{
	{"Standalone", standaloneConfig},
	{"Cluster", clusterConfig},
}

func newClient(t testing.TB, cfg remote.Config) *remote.Client {
	t.Helper()
	c, err := remote.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			kvtest.Run(t, func(t *testing.T) kv.Client {
				c, err := remote.New(mode.config())
				require.NoError(t, err)
				return c
			})
		})
	}
}

// uniqueKey returns a key no other test uses.
func uniqueKey(t *testing.T, name string) string {
	return t.Name() + ":" + name + ":" + strconv.FormatInt(time.Now().UnixNano(), 36)
}
