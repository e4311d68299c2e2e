package remote

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const defaultPort = 6379

// ParseURL builds a Config from a URL of the form
//
//	scheme://[username[:password]@]host[:port][/database][?param=value&...]
//
// The scheme is valkey or redis for plain TCP, valkeys or rediss for TLS.
// The port defaults to 6379 and the database to 0. An empty username with a
// password (valkey://:secret@host) authenticates as the default user.
// Percent-encode reserved characters in the username and password.
//
// Query parameters:
//   - mode: standalone (the default) or cluster.
//   - addr: another host:port, repeatable. In Cluster mode these are more
//     seed nodes. In Standalone mode they are the other nodes (primary and
//     replicas) of the same deployment. See Config.Addresses.
//   - client_name: the connection name shown by CLIENT LIST.
//   - request_timeout, connect_timeout: Go durations such as 500ms or 2s.
//   - max_in_flight: an integer, see Config.MaxInFlight.
//
// An unknown parameter is an error, so that a misspelt one is not ignored.
// The returned Config has passed Validate. No error message contains the
// password.
func ParseURL(s string) (Config, error) {
	if !hasSchemePrefix(s) {
		return Config{}, errors.New("kv: remote: parse url: missing or invalid scheme (want valkey://, valkeys://, redis:// or rediss://)")
	}
	// An '@' after the authority can only come from an unescaped '/', '?'
	// or '#' in the password, which would make net/url put the rest of the
	// password into the path or query, and from there into error messages.
	if start, end := authority(s); start >= 0 && strings.Contains(s[end:], "@") {
		return Config{}, urlError(s, "'@' after the host (percent-encode '@' as %40, and '/', '?' and '#' in a password)")
	}
	u, err := url.Parse(s)
	if err != nil {
		return Config{}, urlParseError(s)
	}

	var cfg Config
	switch u.Scheme {
	case "valkey", "redis":
	case "valkeys", "rediss":
		cfg.UseTLS = true
	default:
		return Config{}, urlError(s, fmt.Sprintf("unsupported scheme %q (want valkey, valkeys, redis or rediss)", u.Scheme))
	}
	if u.Opaque != "" || u.Host == "" {
		return Config{}, urlError(s, "missing host (want scheme://host:port)")
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
	}
	addr, err := parseHostPort(u.Host)
	if err != nil {
		return Config{}, urlError(s, err.Error())
	}
	cfg.Addresses = []Address{addr}

	if err := parseDatabase(&cfg, u.Path); err != nil {
		return Config{}, urlError(s, err.Error())
	}
	if u.Fragment != "" {
		return Config{}, urlError(s, "unexpected fragment")
	}
	if err := parseQuery(&cfg, u.RawQuery); err != nil {
		return Config{}, urlError(s, err.Error())
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, urlError(s, err.Error())
	}
	return cfg, nil
}

func parseHostPort(hostport string) (Address, error) {
	host, portText, err := net.SplitHostPort(hostport)
	if err != nil {
		// No port: the whole text is the host, possibly a bracketed IPv6
		// address.
		host, portText = hostport, ""
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
	}
	if host == "" {
		return Address{}, errors.New("missing host")
	}
	if strings.ContainsAny(host, "[]") {
		return Address{}, fmt.Errorf("invalid host %q", host)
	}
	port := defaultPort
	if portText != "" {
		port, err = strconv.Atoi(portText)
		if err != nil || port < 1 || port > 65535 {
			return Address{}, fmt.Errorf("invalid port %q (want 1-65535)", portText)
		}
	}
	return Address{Host: host, Port: port}, nil
}

func parseDatabase(cfg *Config, path string) error {
	db := strings.TrimPrefix(path, "/")
	if db == "" {
		return nil
	}
	n, err := strconv.Atoi(db)
	if err != nil || n < 0 {
		return fmt.Errorf("invalid database %q in path (want a number such as /0)", db)
	}
	cfg.Database = n
	return nil
}

func parseQuery(cfg *Config, rawQuery string) error {
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return errors.New("invalid query string")
	}
	for name, values := range query {
		if name != "addr" && len(values) > 1 {
			return fmt.Errorf("parameter %s given %d times", name, len(values))
		}
		if err := applyParam(cfg, name, values); err != nil {
			return err
		}
	}
	return nil
}

func applyParam(cfg *Config, name string, values []string) error {
	var err error
	switch name {
	case "mode":
		cfg.Mode, err = ParseMode(values[0])
		if err != nil {
			return fmt.Errorf("invalid mode %q (want standalone or cluster)", values[0])
		}
	case "addr":
		for _, v := range values {
			a, err := parseHostPort(v)
			if err != nil {
				return fmt.Errorf("addr %q: %w", v, err)
			}
			cfg.Addresses = append(cfg.Addresses, a)
		}
	case "client_name":
		cfg.ClientName = values[0]
	case "request_timeout":
		cfg.RequestTimeout, err = parseDuration(name, values[0])
	case "connect_timeout":
		cfg.ConnectTimeout, err = parseDuration(name, values[0])
	case "max_in_flight":
		cfg.MaxInFlight, err = strconv.Atoi(values[0])
		if err != nil {
			return fmt.Errorf("invalid max_in_flight %q (want an integer)", values[0])
		}
	default:
		return fmt.Errorf("unknown parameter %q", name)
	}
	return err
}

func parseDuration(name, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("invalid %s %q (want a duration such as 500ms)", name, v)
	}
	return d, nil
}

func urlError(s, problem string) error {
	return fmt.Errorf("kv: remote: parse url %q: %s", RedactURL(s), problem)
}

// urlParseError reports a URL that net/url rejects. Its errors quote the
// whole input, password included, so the message is built from the
// redacted URL instead. If only the password was malformed, the redacted
// URL parses and the message reports an invalid password.
func urlParseError(s string) error {
	_, err := url.Parse(RedactURL(s))
	var ue *url.Error
	if errors.As(err, &ue) {
		return urlError(s, ue.Err.Error())
	}
	return urlError(s, "invalid password (percent-encode reserved characters such as / ? # @)")
}

// urlRedacted replaces a password in URL text. It is the placeholder of
// url.URL.Redacted. "[redacted]" would not do, because brackets are not
// valid in a userinfo and a redacted URL must still parse.
const urlRedacted = "xxxxx"

// RedactURL returns s with the password of its userinfo replaced by
// "xxxxx", for logging a connection URL. It works on text that is not a
// valid URL too, and leaves s unchanged when it has no password. When the
// authority has no '@' but a later part of s has one, RedactURL assumes an
// unescaped '/', '?' or '#' in the password and redacts up to that '@'.
// That can hide more than the password, but never less.
func RedactURL(s string) string {
	start, end := authority(s)
	if start < 0 {
		return s
	}
	// The userinfo ends at the last '@' of the authority, because net/url
	// allows an unescaped '@' in the password.
	at := strings.LastIndex(s[start:end], "@")
	if at < 0 {
		at = strings.LastIndex(s[start:], "@")
		if at < 0 {
			return s
		}
	}
	at += start
	colon := strings.Index(s[start:at], ":")
	if colon < 0 {
		return s
	}
	colon += start
	return s[:colon+1] + urlRedacted + s[at:]
}

// hasSchemePrefix reports whether s starts with a URL scheme and "://".
// Text that does not is never quoted in an error, because a password could
// be anywhere in it.
func hasSchemePrefix(s string) bool {
	i := strings.Index(s, "://")
	if i <= 0 {
		return false
	}
	for j, r := range s[:i] {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (j == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return false
		}
	}
	return true
}

// authority returns the bounds of the text between "://" and the next '/',
// '?' or '#', with start -1 when s has no "://".
func authority(s string) (start, end int) {
	scheme := strings.Index(s, "://")
	if scheme < 0 {
		return -1, -1
	}
	start = scheme + len("://")
	end = len(s)
	if i := strings.IndexAny(s[start:], "/?#"); i >= 0 {
		end = start + i
	}
	return start, end
}
