package valkeytest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestStartAndStop(t *testing.T) {
	s, err := Start()
	require.NoError(t, err)
	out, err := s.CLI("SET", "k", "v")
	require.NoError(t, err)
	require.Equal(t, "OK", strings.TrimSpace(out))
	s.Stop()
	s.Stop()
	_, err = s.CLI("PING")
	require.Error(t, err, "server still answers after Stop")
}

func TestClusterCoversAllSlots(t *testing.T) {
	c, err := StartCluster(3)
	require.NoError(t, err)
	defer c.Stop()
	out, err := c.Nodes[0].CLI("CLUSTER", "INFO")
	require.NoError(t, err)
	require.Contains(t, out, "cluster_slots_assigned:16384")
	require.Contains(t, out, "cluster_known_nodes:3")
}

func TestStartWithPassword(t *testing.T) {
	s, err := Start("--requirepass", "secret")
	require.NoError(t, err)
	defer s.Stop()
	out, err := s.CLI("--no-auth-warning", "-a", "secret", "PING")
	require.NoError(t, err)
	require.Equal(t, "PONG", strings.TrimSpace(out))
	out, err = s.CLI("GET", "k")
	require.NoError(t, err)
	require.Contains(t, out, "NOAUTH", "a request without the password must be rejected")
}

// runFunc adapts a function to the runner that WithServers wraps.
type runFunc func() int

func (f runFunc) Run() int { return f() }

func TestWithServersStartsAndStops(t *testing.T) {
	var got Servers
	code := WithServers(runFunc(func() int {
		out, err := got.Standalone.CLI("PING")
		require.NoError(t, err)
		require.Equal(t, "PONG", strings.TrimSpace(out))
		out, err = got.Cluster.Nodes[0].CLI("CLUSTER", "INFO")
		require.NoError(t, err)
		require.Contains(t, out, "cluster_state:ok")
		return 7
	}), func(s Servers) { got = s }).Run()

	require.Equal(t, 7, code, "Run must return the tests' exit code")
	_, err := got.Standalone.CLI("PING")
	require.Error(t, err, "the standalone server must be stopped after Run")
	_, err = got.Cluster.Nodes[0].CLI("PING")
	require.Error(t, err, "the cluster must be stopped after Run")
}
