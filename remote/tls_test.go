package remote_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv/remote"
)

// TestTLS connects over TLS to a server whose certificate is signed by a CA
// that only Config.RootCAsPEM contains.
func TestTLS(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed; it makes the test certificates")
	}
	dir := t.TempDir()
	openssl(t, dir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
		"-subj", "/CN=kv test CA", "-keyout", "ca.key", "-out", "ca.pem")
	openssl(t, dir, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
		"-keyout", "server.key", "-out", "server.csr")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ext.cnf"), []byte("subjectAltName=IP:127.0.0.1\n"), 0o600))
	openssl(t, dir, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
		"-CAcreateserial", "-days", "1", "-extfile", "ext.cnf", "-out", "server.pem")

	tlsPort := freePort(t)
	s := privateServer(t, "--tls-port", strconv.Itoa(tlsPort),
		"--tls-cert-file", filepath.Join(dir, "server.pem"),
		"--tls-key-file", filepath.Join(dir, "server.key"),
		"--tls-ca-cert-file", filepath.Join(dir, "ca.pem"),
		"--tls-auth-clients", "no")
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	require.NoError(t, err)

	cfg := remote.Config{
		Addresses:  []remote.Address{{Host: s.Host, Port: tlsPort}},
		UseTLS:     true,
		RootCAsPEM: ca,
	}
	c := newClient(t, cfg)
	ctx := testContext(t)
	require.NoError(t, c.Set(ctx, []byte("k"), []byte("over tls"), 0))
	v, found, err := c.Get(ctx, []byte("k"))
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "over tls", string(v))

	// Without the CA, the system trust store rejects the certificate.
	cfg.RootCAsPEM = nil
	_, err = remote.New(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kv: remote: connect to 127.0.0.1:"+strconv.Itoa(tlsPort))
}

func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "openssl %v: %s", args, out)
}

// freePort returns a loopback port that nothing listens on.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
