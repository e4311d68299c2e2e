package guard

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

// backends are the deployments every protocol test runs against, filled by
// TestMain.
var backends []backend

type backend struct {
	name    string
	connect func(t *testing.T) kv.Client
}

// forEachBackend runs test once per deployment as a subtest.
func forEachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

// newGuard returns a Guard over c, closed when the test ends.
func newGuard(t *testing.T, c kv.Client, opts Options) *Guard {
	t.Helper()
	g, err := New(c, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, g.Close()) })
	return g
}

// uniqueKey returns a binary key no other test uses.
func uniqueKey(t *testing.T) []byte {
	t.Helper()
	suffix := make([]byte, 8)
	_, err := rand.Read(suffix)
	require.NoError(t, err)
	return append([]byte("guard-test\x00\xff:"+t.Name()+":"), suffix...)
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
