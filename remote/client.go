package remote

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	glide "github.com/valkey-io/valkey-glide/go/v2"
	"github.com/valkey-io/valkey-glide/go/v2/config"
	"github.com/valkey-io/valkey-glide/go/v2/models"
	"github.com/valkey-io/valkey-glide/go/v2/options"

	"github.com/derp-kv/kv"
)

// commands is the part of GLIDE's API that *glide.Client and
// *glide.ClusterClient share and that Client calls on both.
type commands interface {
	Get(ctx context.Context, key string) (models.Result[string], error)
	Set(ctx context.Context, key, value string) (string, error)
	SetWithOptions(ctx context.Context, key, value string, opts options.SetOptions) (models.Result[string], error)
	MGet(ctx context.Context, keys []string) ([]models.Result[string], error)
	MSet(ctx context.Context, keyValueMap map[string]string) (string, error)
	Del(ctx context.Context, keys []string) (int64, error)
	Exists(ctx context.Context, keys []string) (int64, error)
	PTTL(ctx context.Context, key string) (int64, error)
	PExpire(ctx context.Context, key string, expireTime time.Duration) (bool, error)
	Incr(ctx context.Context, key string) (int64, error)
	InvokeScriptWithOptions(ctx context.Context, script options.Script, opts options.ScriptOptions) (any, error)
	Subscribe(ctx context.Context, channels []string, timeoutMs int) error
	Unsubscribe(ctx context.Context, channels []string, timeoutMs int) error
	Close()
}

var (
	_ kv.Client     = (*Client)(nil)
	_ kv.Swapper    = (*Client)(nil)
	_ kv.TTLCounter = (*Client)(nil)
	_ kv.Publisher  = (*Client)(nil)
	_ kv.Subscriber = (*Client)(nil)
)

// Client is the Valkey tier: a kv.Client, kv.Swapper, kv.TTLCounter,
// kv.Publisher and kv.Subscriber on top of one GLIDE client. It is safe for
// concurrent use by multiple goroutines. Create it with New; the zero value
// is not usable.
type Client struct {
	cfg Config // with defaults applied

	// Exactly one of standalone and cluster is set; cmd is that one.
	standalone *glide.Client
	cluster    *glide.ClusterClient
	cmd        commands

	// slots holds one token per request in flight, so that no more than
	// cfg.MaxInFlight requests reach GLIDE, which rejects those beyond its
	// own limit instead of queueing them.
	slots chan struct{}
	// done is closed by Close, which wakes every caller waiting for a slot.
	done   chan struct{}
	closed atomic.Bool
	// closeMu is held for writing while Close sets closed, and for reading
	// while a call registers in calls (see begin), so that Close waits for
	// every call that passed its closed check.
	closeMu   sync.RWMutex
	calls     sync.WaitGroup
	closeOnce sync.Once

	scripts scripts
	pubsub  pubsub
}

// initOtel creates GLIDE's OpenTelemetry singleton before any client sends
// a command. GLIDE v2.5.3 creates it lazily on the first command without
// synchronisation, which the race detector reports when two new clients
// send their first commands at the same time.
var initOtel sync.Once

// New connects to the deployment cfg describes and returns a ready Client.
// It connects eagerly, so a wrong address or password fails here, with an
// error that names the address and the reason and never the password.
// Connect is then a no-op. New does not modify cfg.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	initOtel.Do(func() { glide.GetOtelInstance() })

	c := &Client{
		cfg:   cfg,
		slots: make(chan struct{}, cfg.MaxInFlight),
		done:  make(chan struct{}),
	}
	var err error
	if cfg.Mode == Cluster {
		c.cluster, err = glide.NewClusterClient(clusterConfig(cfg, nil))
		if err == nil {
			c.cmd = c.cluster
		}
	} else {
		c.standalone, err = glide.NewClient(standaloneConfig(cfg, nil))
		if err == nil {
			c.cmd = c.standalone
		}
	}
	if err != nil {
		return nil, connectError(cfg, err)
	}
	c.scripts = newScripts()
	c.pubsub.init()
	return c, nil
}

// Standalone returns the underlying GLIDE client in Standalone mode, and nil
// in Cluster mode, for commands that kv.Client does not cover. Requests sent
// through it bypass the in-flight bound of Config.MaxInFlight, and they fail
// once Close has run. Close does not wait for them, and a cancelled one
// can crash the process through a GLIDE v2.5.3 bug (see do).
func (c *Client) Standalone() *glide.Client {
	return c.standalone
}

// Cluster returns the underlying GLIDE cluster client in Cluster mode, and
// nil in Standalone mode. The notes on [Client.Standalone] apply.
func (c *Client) Cluster() *glide.ClusterClient {
	return c.cluster
}

// Connect returns nil, or an error wrapping kv.ErrClosed after Close: New has
// already connected.
func (c *Client) Connect(ctx context.Context) error {
	if c.closed.Load() {
		return opError("connect", kv.ErrClosed)
	}
	return nil
}

// Capabilities reports that Valkey expires keys, scans by prefix, and runs
// MGet, MSet and DeleteMany in one round trip per node.
func (c *Client) Capabilities() kv.Capabilities {
	return kv.Capabilities{TTL: true, Scan: true, Batch: true}
}

// Close fails every call in flight that can return early (see do) and
// every later call with an error wrapping kv.ErrClosed. It then waits
// until every request already sent has returned from GLIDE, because its
// reply arrived or GLIDE's core timed it out after Config.RequestTimeout
// (or the timeout of a blocking SUBSCRIBE). Closing GLIDE's clients before
// that could let a late reply crash the process. Close then closes the
// GLIDE client and the subscription connection, and waits for handler
// calls in progress. Close is idempotent and always returns nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closeMu.Lock()
		c.closed.Store(true)
		c.closeMu.Unlock()
		close(c.done)
		c.calls.Wait()
		c.cmd.Close()
		c.pubsub.close()
		c.scripts.close()
	})
	return nil
}

// glideConfig is the part of GLIDE's two client configuration types that
// both builders set. The types share these methods but no interface.
type glideConfig[T any] interface {
	WithAddress(*config.NodeAddress) T
	WithUseTLS(bool) T
	WithRequestTimeout(time.Duration) T
	WithCredentials(*config.ServerCredentials) T
	WithClientName(string) T
}

// advancedConfig is the same for GLIDE's two advanced configuration types.
type advancedConfig[T any] interface {
	WithConnectionTimeout(time.Duration) T
	WithTlsConfiguration(*config.TlsConfiguration) T
}

// withCommon applies the settings of cfg that both modes share to gc, whose
// methods modify it in place.
func withCommon[T glideConfig[T]](gc T, cfg Config) T {
	gc.WithUseTLS(cfg.UseTLS)
	gc.WithRequestTimeout(cfg.RequestTimeout)
	for _, a := range cfg.Addresses {
		gc.WithAddress(&config.NodeAddress{Host: a.Host, Port: a.Port})
	}
	if creds := credentials(cfg); creds != nil {
		gc.WithCredentials(creds)
	}
	if cfg.ClientName != "" {
		gc.WithClientName(cfg.ClientName)
	}
	return gc
}

// withAdvanced applies the connect timeout and TLS settings of cfg to a.
func withAdvanced[T advancedConfig[T]](a T, cfg Config) T {
	a.WithConnectionTimeout(cfg.ConnectTimeout)
	if tls := tlsConfig(cfg); tls != nil {
		a.WithTlsConfiguration(tls)
	}
	return a
}

func standaloneConfig(cfg Config, sub *config.StandaloneSubscriptionConfig) *config.ClientConfiguration {
	gc := withCommon(config.NewClientConfiguration(), cfg)
	gc.WithDatabaseId(cfg.Database)
	gc.WithAdvancedConfiguration(withAdvanced(config.NewAdvancedClientConfiguration(), cfg))
	if sub != nil {
		gc.WithSubscriptionConfig(sub)
	}
	return gc
}

func clusterConfig(cfg Config, sub *config.ClusterSubscriptionConfig) *config.ClusterClientConfiguration {
	gc := withCommon(config.NewClusterClientConfiguration(), cfg)
	gc.WithAdvancedConfiguration(withAdvanced(config.NewAdvancedClusterClientConfiguration(), cfg))
	if sub != nil {
		gc.WithSubscriptionConfig(sub)
	}
	return gc
}

func credentials(cfg Config) *config.ServerCredentials {
	switch {
	case cfg.Username != "":
		return config.NewServerCredentials(cfg.Username, cfg.Password)
	case cfg.Password != "":
		return config.NewServerCredentialsWithDefaultUsername(cfg.Password)
	default:
		return nil
	}
}

func tlsConfig(cfg Config) *config.TlsConfiguration {
	if len(cfg.RootCAsPEM) == 0 {
		return nil
	}
	return config.NewTlsConfiguration().WithRootCertificates(cfg.RootCAsPEM)
}

// connectError describes a failure to create a GLIDE client with the
// addresses tried, and removes the password should the server or GLIDE have
// echoed it. GLIDE v2.5.3 ends some of these messages with a newline, which
// would split a log line, so surrounding space is trimmed.
func connectError(cfg Config, err error) error {
	msg := strings.TrimSpace(scrub(err.Error(), cfg.Password))
	if cfg.Mode == Cluster {
		// GLIDE v2.5.3 reports a standalone server in cluster mode only as
		// a timeout, after retrying for the connect timeout.
		msg += " (in cluster mode the addresses must be cluster nodes; a standalone server fails this way)"
	}
	return fmt.Errorf("kv: remote: connect to %s (%s): %s", addressList(cfg.Addresses), cfg.Mode, msg)
}

func addressList(addrs []Address) string {
	s := ""
	for i, a := range addrs {
		if i > 0 {
			s += ", "
		}
		s += a.String()
	}
	return s
}
