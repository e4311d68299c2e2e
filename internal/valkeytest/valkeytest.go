// Package valkeytest starts throwaway valkey-server processes on loopback
// ports for tests and benchmarks: a standalone server, or a cluster of
// masters. Each test package starts its own servers in TestMain, so a test
// that pauses or restarts its server never disturbs another package running
// at the same time.
//
// valkey-server and valkey-cli must be on PATH; `make valkey` installs them.
// The servers listen on 127.0.0.1 only, keep no data on disk, and are
// stopped by their pid.
package valkeytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is one running valkey-server. Its methods are safe for concurrent
// use.
type Server struct {
	// Host and Port are where the server listens (Host is always 127.0.0.1).
	Host string
	Port int

	dir  string
	cmd  *exec.Cmd
	done chan struct{}

	mu      sync.Mutex // guards stopped
	stopped bool
}

// Addr returns the server's address as host:port.
func (s *Server) Addr() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// Start starts a standalone valkey-server on a free loopback port. Extra
// arguments are passed to valkey-server as config directives, such as
// "--requirepass", "secret".
func Start(extra ...string) (*Server, error) {
	if err := checkInstalled(); err != nil {
		return nil, err
	}
	var lastErr error
	// A port found free can be taken by someone else before the server binds
	// it, so retry a few times with new ports.
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := startOn(port, extra...)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startOn(port int, extra ...string) (*Server, error) {
	dir, err := os.MkdirTemp("", "valkeytest-")
	if err != nil {
		return nil, fmt.Errorf("valkeytest: %w", err)
	}
	args := []string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--logfile", filepath.Join(dir, "valkey.log"),
	}
	args = append(args, extra...)
	cmd := exec.Command("valkey-server", args...)
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("valkeytest: start valkey-server: %w", err)
	}
	s := &Server{Host: "127.0.0.1", Port: port, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(10 * time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "valkey.log"))
		s.Stop()
		return nil, fmt.Errorf("valkeytest: valkey-server on port %d did not start: %w\n%s", port, err, log)
	}
	return s, nil
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errors.New("process exited")
		default:
		}
		// A server started with --requirepass replies NOAUTH, which still
		// shows that it accepts connections.
		out, err := s.CLI("PING")
		reply := strings.TrimSpace(out)
		if err == nil && (reply == "PONG" || strings.HasPrefix(reply, "NOAUTH")) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("no reply to PING within " + timeout.String())
}

// CLI runs valkey-cli against the server with args and returns its output.
// Use it to reach the server outside the client under test, for example
// "CLIENT", "PAUSE", "2000".
func (s *Server) CLI(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	full := append([]string{"-h", s.Host, "-p", strconv.Itoa(s.Port)}, args...)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "valkey-cli", full...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("valkeytest: valkey-cli %s: %w: %s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// Stop ends the server process and removes its files. It is idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	os.RemoveAll(s.dir)
}

// Cluster is a running Valkey cluster of masters without replicas.
type Cluster struct {
	Nodes []*Server
}

// Addrs returns the host:port of every node.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Stop stops every node.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
}

// StartCluster starts masters valkey-servers in cluster mode, assigns the
// 16384 slots among them, and waits until every node reports the cluster as
// ok.
func StartCluster(masters int) (*Cluster, error) {
	if masters < 3 {
		return nil, fmt.Errorf("valkeytest: a cluster needs at least 3 masters, got %d", masters)
	}
	c := &Cluster{}
	for range masters {
		s, err := startClusterNode()
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("valkey-cli", args...).CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("valkeytest: create cluster: %w: %s", err, out)
	}
	if err := c.waitOK(20 * time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func startClusterNode() (*Server, error) {
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		// The cluster bus listens on port+10000.
		if !portFree(port + 10000) {
			continue
		}
		s, err := startOn(port, "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes-"+strconv.Itoa(port)+".conf",
			"--cluster-node-timeout", "5000")
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = errors.New("valkeytest: no free port pair for a cluster node")
	}
	return nil, lastErr
}

func (c *Cluster) waitOK(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, n := range c.Nodes {
		for {
			out, err := n.CLI("CLUSTER", "INFO")
			if err == nil && strings.Contains(out, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("valkeytest: cluster node %s not ok within %v: %s", n.Addr(), timeout, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// freePort returns a free loopback port below 55536, so that
// port+10000 (a cluster bus port) is valid too.
func freePort() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("valkeytest: find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port < 55536 {
			return port, nil
		}
	}
	return 0, errors.New("valkeytest: no free port below 55536")
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func checkInstalled() error {
	for _, bin := range []string{"valkey-server", "valkey-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("valkeytest: %s not found on PATH; run `make valkey` to install it", bin)
		}
	}
	return nil
}

// Servers are the servers that [WithServers] starts for a test package.
type Servers struct {
	Standalone *Server
	Cluster    *Cluster
}

// runner is the interface of *testing.M that goleak.VerifyTestMain calls,
// so that a wrapper of it can stand in.
type runner interface {
	Run() int
}

// WithServers wraps m so that its Run starts a standalone server and a
// cluster of three masters, calls ready with them, runs the tests, and stops
// the servers before it returns. Wrapped in goleak.VerifyTestMain, the leak
// check then runs after the servers' process waiters have exited:
//
//	func TestMain(m *testing.M) {
//		goleak.VerifyTestMain(valkeytest.WithServers(m, func(s valkeytest.Servers) {
//			servers = s
//		}))
//	}
func WithServers(m runner, ready func(Servers)) runner {
	return serversRunner{m: m, ready: ready}
}

type serversRunner struct {
	m     runner
	ready func(Servers)
}

func (r serversRunner) Run() int {
	standalone, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer standalone.Stop()
	cluster, err := StartCluster(3)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cluster.Stop()
	r.ready(Servers{Standalone: standalone, Cluster: cluster})
	return r.m.Run()
}
