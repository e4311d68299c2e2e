package remote_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv/remote"
)

const secret = "S3cr3t-pw"

func TestModeText(t *testing.T) {
	for _, m := range []remote.Mode{remote.Standalone, remote.Cluster} {
		text, err := m.MarshalText()
		require.NoError(t, err)
		var back remote.Mode
		require.NoError(t, back.UnmarshalText(text))
		assert.Equal(t, m, back)
		parsed, err := remote.ParseMode(strings.ToUpper(m.String()))
		require.NoError(t, err)
		assert.Equal(t, m, parsed)
	}
	assert.Equal(t, "standalone", remote.Standalone.String())
	assert.Equal(t, "cluster", remote.Cluster.String())

	var m remote.Mode
	err := json.Unmarshal([]byte(`"sentinel"`), &m)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown mode "sentinel"`)
	_, err = remote.Mode(7).MarshalText()
	assert.Error(t, err)
}

func TestConfigValidate(t *testing.T) {
	valid := func() remote.Config {
		return remote.Config{Addresses: []remote.Address{{Host: "127.0.0.1", Port: 6379}}}
	}
	tests := []struct {
		name   string
		change func(c *remote.Config)
		field  string
	}{
		{"no addresses", func(c *remote.Config) { c.Addresses = nil }, "Addresses"},
		{"empty host", func(c *remote.Config) { c.Addresses[0].Host = "" }, "Addresses[0].Host"},
		{"port zero", func(c *remote.Config) { c.Addresses[0].Port = 0 }, "Addresses[0].Port"},
		{"port too large", func(c *remote.Config) { c.Addresses[0].Port = 65536 }, "Addresses[0].Port"},
		{"unknown mode", func(c *remote.Config) { c.Mode = 5 }, "Mode"},
		{"negative database", func(c *remote.Config) { c.Database = -1 }, "Database"},
		{"database in cluster", func(c *remote.Config) { c.Mode = remote.Cluster; c.Database = 2 }, "Database"},
		{"CA without TLS", func(c *remote.Config) { c.RootCAsPEM = []byte("pem") }, "RootCAsPEM"},
		{"negative request timeout", func(c *remote.Config) { c.RequestTimeout = -time.Second }, "RequestTimeout"},
		{"negative connect timeout", func(c *remote.Config) { c.ConnectTimeout = -time.Second }, "ConnectTimeout"},
		{"huge request timeout", func(c *remote.Config) { c.RequestTimeout = 1000 * time.Hour * 24 }, "RequestTimeout"},
		{"in-flight above limit", func(c *remote.Config) { c.MaxInFlight = 1001 }, "MaxInFlight"},
		{"negative in-flight", func(c *remote.Config) { c.MaxInFlight = -1 }, "MaxInFlight"},
		{"client name with space", func(c *remote.Config) { c.ClientName = "my app" }, "ClientName"},
		{"binary password", func(c *remote.Config) { c.Password = "\xff" }, "Password"},
		{"binary username", func(c *remote.Config) { c.Username = "\xff" }, "Username"},
		{"binary host", func(c *remote.Config) { c.Addresses[0].Host = "\xff" }, "Addresses[0].Host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.change(&cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), "kv: remote: invalid config: "+tc.field+" ")
			_, err = remote.New(cfg)
			assert.Error(t, err, "New must reject what Validate rejects")
		})
	}
	require.NoError(t, valid().Validate())
	cluster := valid()
	cluster.Mode = remote.Cluster
	require.NoError(t, cluster.Validate())
}

func TestConfigRedactsPassword(t *testing.T) {
	cfg := remote.Config{
		Addresses: []remote.Address{{Host: "cache", Port: 6380}},
		Username:  "app",
		Password:  secret,
	}
	var logged bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logged, nil))
	logger.Info("connecting", "config", cfg)
	forms := map[string]string{
		"String":  cfg.String(),
		"%v":      fmt.Sprintf("%v", cfg),
		"%+v":     fmt.Sprintf("%+v", cfg),
		"%#v":     fmt.Sprintf("%#v", cfg),
		"%s ptr":  fmt.Sprintf("%s", &cfg),
		"%#v ptr": fmt.Sprintf("%#v", &cfg),
		"slog":    logged.String(),
	}
	for name, text := range forms {
		assert.NotContains(t, text, secret, name)
		assert.Contains(t, text, "[redacted]", name)
		assert.Contains(t, text, "cache:6380", name)
	}
	assert.Contains(t, cfg.String(), `Username: "app"`)
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want remote.Config
	}{
		{"valkey://localhost", remote.Config{Addresses: []remote.Address{{Host: "localhost", Port: 6379}}}},
		{"redis://10.0.0.1:7000/3", remote.Config{Addresses: []remote.Address{{Host: "10.0.0.1", Port: 7000}}, Database: 3}},
		{"rediss://u:p%40ss@cache:6380/", remote.Config{
			Addresses: []remote.Address{{Host: "cache", Port: 6380}}, Username: "u", Password: "p@ss", UseTLS: true,
		}},
		{"valkeys://:only-pw@[::1]:7001", remote.Config{
			Addresses: []remote.Address{{Host: "::1", Port: 7001}}, Password: "only-pw", UseTLS: true,
		}},
		{"valkey://[::1]", remote.Config{Addresses: []remote.Address{{Host: "::1", Port: 6379}}}},
		{"valkey://a:7000?mode=cluster&addr=b:7001&addr=c&client_name=svc&request_timeout=500ms&connect_timeout=1s&max_in_flight=100",
			remote.Config{
				Addresses: []remote.Address{{Host: "a", Port: 7000}, {Host: "b", Port: 7001}, {Host: "c", Port: 6379}},
				Mode:      remote.Cluster, ClientName: "svc", RequestTimeout: 500 * time.Millisecond,
				ConnectTimeout: time.Second, MaxInFlight: 100,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			got, err := remote.ParseURL(tc.url)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		url     string
		problem string
	}{
		{"http://host", "unsupported scheme"},
		{"host:6379", "missing or invalid scheme"},
		{"redis://", "missing host"},
		{"redis://host:0", "invalid port"},
		{"redis://host:99999", "invalid port"},
		{"redis://host:abc", "invalid port"},
		{"redis://host/x", "invalid database"},
		{"redis://host/-1", "invalid database"},
		{"redis://host?mode=sentinel", "invalid mode"},
		{"redis://host?mode=cluster&mode=standalone", "given 2 times"},
		{"redis://host?timeout=1s", `unknown parameter "timeout"`},
		{"redis://host?request_timeout=fast", "invalid request_timeout"},
		{"redis://host?max_in_flight=5000", "MaxInFlight"},
		{"redis://host/2?mode=cluster", "Database"},
		{"redis://host#frag", "unexpected fragment"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			_, err := remote.ParseURL(tc.url)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.problem)
			assert.True(t, strings.HasPrefix(err.Error(), "kv: remote: parse url"), err.Error())
		})
	}
}

func TestParseURLErrorsHidePassword(t *testing.T) {
	// Each URL carries the password in a place that makes parsing fail,
	// including places where net/url would quote it.
	urls := []string{
		"redis://user:" + secret + "@host:abc",
		"redis://user:" + secret + "@host/x",
		"redis://user:" + secret + "@host?mode=bad",
		"redis://user:" + secret + "@host?bogus=1",
		"redis://user:" + secret + "%zz@host",
		"redis://user:" + secret + "/x@host",
		"redis://user:" + secret + "?x@host",
		"redis://user:" + secret + "#x@host",
		"redis://user:1234/" + secret + "@host",
		"redis://user:" + secret + " @host",
		"redis://user:" + secret + "[@host",
		"redis:user:" + secret + "@host",
		"u:" + secret + "@x://host",
		"ftp://user:" + secret + "@host",
		"redis://user:" + secret + "@",
		"redis://user:" + secret + "@host:6379/2?mode=cluster",
	}
	for _, u := range urls {
		t.Run(u, func(t *testing.T) {
			_, err := remote.ParseURL(u)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), secret)
			assert.NotContains(t, err.Error(), secret[:5], "a fragment of the password")
		})
	}
}

func TestRedactURL(t *testing.T) {
	assert.Equal(t, "redis://u:xxxxx@h:1/0", remote.RedactURL("redis://u:"+secret+"@h:1/0"))
	assert.Equal(t, "redis://h:1/0", remote.RedactURL("redis://h:1/0"))
	assert.Equal(t, "redis://u@h", remote.RedactURL("redis://u@h"))
	assert.Equal(t, "redis://u:xxxxx@h", remote.RedactURL("redis://u:a/b?c#d@h"))
}

func FuzzParseURL(f *testing.F) {
	seeds := []string{
		"valkey://localhost", "rediss://u:pw@h:1/2?mode=cluster&addr=x:2",
		"redis://[::1]:6379", "redis://:pw@h", "valkeys://h?client_name=a%40b",
		"redis://u:p/w@h", "redis://h:1/0#f", "redis://h?max_in_flight=9", "",
		"redis://u:pw@h:1?request_timeout=1h&connect_timeout=0s",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := remote.ParseURL(s)
		if err != nil {
			return
		}
		require.NoError(t, cfg.Validate(), "ParseURL returned a config that Validate rejects")
		if len(cfg.Password) >= 6 {
			assert.NotContains(t, cfg.String(), cfg.Password)
		}
	})
}

// FuzzParseURLPassword checks that no error message contains the password,
// wherever the rest of the URL puts it.
func FuzzParseURLPassword(f *testing.F) {
	seeds := [][2]string{
		{"pw", "host:6379/0"}, {"p/w", "host"}, {"p?w", "h?mode=x"}, {"p#w", "h"},
		{"p%zz", "h"}, {"p@w", "h:abc"}, {"p w", "h/bad"}, {"[", "h"}, {"", "h?bogus=1"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, password, rest string) {
		pw := "Zq9Kx" + password
		if strings.Contains(rest, pw) {
			return
		}
		for _, scheme := range []string{"redis://", "valkeys://", "redis:", ""} {
			for _, pwForm := range []string{pw, url.QueryEscape(pw)} {
				_, err := remote.ParseURL(scheme + "user:" + pwForm + "@" + rest)
				if err != nil {
					require.NotContains(t, err.Error(), pw)
					require.NotContains(t, err.Error(), "Zq9Kx")
				}
			}
		}
	})
}
