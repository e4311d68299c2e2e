package remote

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Mode selects how the client talks to Valkey: to one standalone server, or
// to a cluster whose topology it discovers from the seed addresses.
type Mode int

const (
	// Standalone connects to a single server (or a primary with replicas
	// that the client does not discover). It is the zero value of Mode.
	Standalone Mode = iota
	// Cluster connects to a Valkey cluster. The addresses are seeds: one
	// reachable node is enough to discover the others.
	Cluster
)

// String returns "standalone" or "cluster", the forms ParseMode accepts.
func (m Mode) String() string {
	switch m {
	case Standalone:
		return "standalone"
	case Cluster:
		return "cluster"
	default:
		return "Mode(" + strconv.Itoa(int(m)) + ")"
	}
}

// ParseMode returns the Mode named by s, "standalone" or "cluster" in any
// letter case.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "standalone":
		return Standalone, nil
	case "cluster":
		return Cluster, nil
	default:
		return 0, fmt.Errorf("kv: remote: unknown mode %q (want standalone or cluster)", s)
	}
}

// MarshalText returns the String form, so that a Mode reads and writes as
// text in JSON, YAML and flag packages.
func (m Mode) MarshalText() ([]byte, error) {
	if m != Standalone && m != Cluster {
		return nil, fmt.Errorf("kv: remote: unknown mode %d", int(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText sets m from its text form, as ParseMode does.
func (m *Mode) UnmarshalText(text []byte) error {
	parsed, err := ParseMode(string(text))
	if err != nil {
		return err
	}
	*m = parsed
	return nil
}

// Address is one Valkey node, a host name or IP address and a TCP port.
// The zero value is not a valid address.
type Address struct {
	Host string
	Port int
}

// String returns host:port, with brackets around an IPv6 address.
func (a Address) String() string {
	host := a.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(a.Port)
}

// Defaults applied by New to the zero values of Config fields.
const (
	// DefaultRequestTimeout is the request timeout when
	// Config.RequestTimeout is 0. It is GLIDE v2.5's own default.
	DefaultRequestTimeout = 250 * time.Millisecond
	// DefaultConnectTimeout is the connect timeout when
	// Config.ConnectTimeout is 0. It is GLIDE v2.5's own default.
	DefaultConnectTimeout = 2 * time.Second
	// DefaultMaxInFlight is the in-flight bound when Config.MaxInFlight is
	// 0: a margin below GLIDE's fixed limit of MaxInFlightLimit, which
	// leaves room for requests sent through the raw GLIDE client.
	DefaultMaxInFlight = 900
	// MaxInFlightLimit is the number of requests GLIDE v2.5 accepts at once
	// per client. GLIDE rejects any request beyond it with an error, which
	// is why Client queues its callers below this bound.
	MaxInFlightLimit = 1000
)

// Config describes how to reach a Valkey deployment. It is passed by value:
// New reads it and never modifies the caller's copy. The zero value is not
// usable because Addresses is empty; ParseURL builds a Config from a
// valkey:// or redis:// URL.
//
// The String, GoString and LogValue methods print every field except
// Password, which they replace with "[redacted]", so a Config is safe to log.
type Config struct {
	// Addresses lists the nodes to connect to. In Standalone mode they are
	// the primary and any replicas of one deployment, and the client uses
	// exactly these. In Cluster mode they are seeds for discovery.
	Addresses []Address
	// Mode is Standalone (the default) or Cluster.
	Mode Mode

	// Username and Password authenticate with AUTH. An empty Username with a
	// Password uses the server's "default" user; both empty skip AUTH.
	Username string
	Password string

	// UseTLS encrypts every connection with TLS.
	UseTLS bool
	// RootCAsPEM, when not empty, holds the PEM certificates that server
	// certificates must chain to, instead of the system trust store. It
	// needs UseTLS. GLIDE v2.5 has no client certificates (mutual TLS).
	RootCAsPEM []byte

	// Database is the logical database number that SELECT picks on every
	// connection. Standalone mode only; it must be 0 in Cluster mode.
	Database int
	// ClientName is sent with CLIENT SETNAME, so that CLIENT LIST shows
	// which service a connection belongs to. Empty sends nothing.
	ClientName string

	// RequestTimeout bounds each request from send to reply, including the
	// time spent waiting behind other requests on the connection. A context
	// deadline shorter than it still applies. 0 means
	// DefaultRequestTimeout (250 ms); caches usually want 50 ms to 1 s.
	RequestTimeout time.Duration
	// ConnectTimeout bounds each TCP and TLS connection attempt, both in New
	// and on reconnects. 0 means DefaultConnectTimeout (2 s).
	ConnectTimeout time.Duration

	// MaxInFlight is how many requests the client sends at once. Callers
	// beyond it wait, under their own context, for a slot. 0 means
	// DefaultMaxInFlight (900); it may not exceed MaxInFlightLimit (1000).
	// A subscription uses a second connection with its own bound.
	MaxInFlight int
}

// Validate reports the first problem that would keep New from using c, as
// an error naming the field.
func (c Config) Validate() error {
	if err := c.validateAddresses(); err != nil {
		return err
	}
	if err := c.validateStrings(); err != nil {
		return err
	}

	if c.Mode != Standalone && c.Mode != Cluster {
		return configError("Mode", fmt.Sprintf("%d is not Standalone or Cluster", int(c.Mode)))
	}
	if c.Database < 0 {
		return configError("Database", fmt.Sprintf("%d is negative", c.Database))
	}
	if c.Database != 0 && c.Mode == Cluster {
		return configError("Database", fmt.Sprintf("%d is set, but a cluster has only database 0", c.Database))
	}
	if len(c.RootCAsPEM) > 0 && !c.UseTLS {
		return configError("RootCAsPEM", "is set, but UseTLS is false")
	}

	// GLIDE carries both timeouts as uint32 milliseconds.
	const maxTimeout = time.Duration(1<<32-1) * time.Millisecond
	for _, timeout := range []struct {
		field string
		value time.Duration
	}{{"RequestTimeout", c.RequestTimeout}, {"ConnectTimeout", c.ConnectTimeout}} {
		if timeout.value < 0 {
			return configError(timeout.field, fmt.Sprintf("%v is negative", timeout.value))
		}
		if timeout.value > maxTimeout {
			return configError(timeout.field, fmt.Sprintf("%v exceeds %v", timeout.value, maxTimeout))
		}
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > MaxInFlightLimit {
		return configError("MaxInFlight", fmt.Sprintf("%d is out of range 0-%d", c.MaxInFlight, MaxInFlightLimit))
	}
	return nil
}

func (c Config) validateAddresses() error {
	if len(c.Addresses) == 0 {
		return configError("Addresses", "is empty; give at least one host and port")
	}
	for i, a := range c.Addresses {
		field := "Addresses[" + strconv.Itoa(i) + "]"
		if a.Host == "" {
			return configError(field+".Host", "is empty")
		}
		if !utf8.ValidString(a.Host) {
			return configError(field+".Host", fmt.Sprintf("%q is not valid UTF-8", a.Host))
		}
		if a.Port < 1 || a.Port > 65535 {
			return configError(field+".Port", fmt.Sprintf("%d is out of range 1-65535", a.Port))
		}
	}
	return nil
}

// validateStrings checks the strings that GLIDE sends in protobuf string
// fields, which must be UTF-8. The messages never quote the password.
func (c Config) validateStrings() error {
	if !utf8.ValidString(c.Username) {
		return configError("Username", "is not valid UTF-8")
	}
	if !utf8.ValidString(c.Password) {
		return configError("Password", "is not valid UTF-8")
	}
	for i := 0; i < len(c.ClientName); i++ {
		// CLIENT SETNAME accepts only printable ASCII without spaces.
		if ch := c.ClientName[i]; ch < '!' || ch > '~' {
			return configError("ClientName", fmt.Sprintf("%q contains a space or a character outside printable ASCII", c.ClientName))
		}
	}
	return nil
}

func configError(field, problem string) error {
	return errors.New("kv: remote: invalid config: " + field + " " + problem)
}

const redacted = "[redacted]"

// String returns the configuration in a readable form with the password
// replaced by "[redacted]".
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("remote.Config{Mode: ")
	b.WriteString(c.Mode.String())
	b.WriteString(", Addresses: [")
	for i, a := range c.Addresses {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(a.String())
	}
	fmt.Fprintf(&b, "], Username: %q, Password: %s, UseTLS: %t, RootCAsPEM: %d bytes, Database: %d, ClientName: %q",
		c.Username, c.redactedPassword(), c.UseTLS, len(c.RootCAsPEM), c.Database, c.ClientName)
	fmt.Fprintf(&b, ", RequestTimeout: %v, ConnectTimeout: %v, MaxInFlight: %d}",
		c.RequestTimeout, c.ConnectTimeout, c.MaxInFlight)
	return b.String()
}

// GoString returns the same redacted form as String, so that the %#v verb
// does not print the password either.
func (c Config) GoString() string {
	return c.String()
}

// LogValue returns the configuration as a log/slog group with the password
// replaced by "[redacted]".
func (c Config) LogValue() slog.Value {
	addrs := make([]string, len(c.Addresses))
	for i, a := range c.Addresses {
		addrs[i] = a.String()
	}
	return slog.GroupValue(
		slog.String("mode", c.Mode.String()),
		slog.Any("addresses", addrs),
		slog.String("username", c.Username),
		slog.String("password", c.redactedPassword()),
		slog.Bool("tls", c.UseTLS),
		slog.Int("root_cas_pem_bytes", len(c.RootCAsPEM)),
		slog.Int("database", c.Database),
		slog.String("client_name", c.ClientName),
		slog.Duration("request_timeout", c.RequestTimeout),
		slog.Duration("connect_timeout", c.ConnectTimeout),
		slog.Int("max_in_flight", c.MaxInFlight),
	)
}

func (c Config) redactedPassword() string {
	if c.Password == "" {
		return `""`
	}
	return redacted
}

// withDefaults returns a copy of c with the zero-valued tunables set.
func (c Config) withDefaults() Config {
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	c.Addresses = append([]Address(nil), c.Addresses...)
	c.RootCAsPEM = append([]byte(nil), c.RootCAsPEM...)
	return c
}
