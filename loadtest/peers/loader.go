package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/rueidis"
)

// preloadBatch is how many SETs the loader pipelines in one DoMulti call.
const preloadBatch = 500

// loader prepares the server and reads its values for checks, outside the
// clients being measured: a rueidis client without client-side caching, so
// its reads always reach the server.
type loader struct {
	client rueidis.Client
}

func openLoader(addr string) (*loader, error) {
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		return nil, fmt.Errorf("loader: connect to %s: %w", addr, err)
	}
	return &loader{client: client}, nil
}

func (l *loader) close() { l.client.Close() }

// flush removes every key, so each side starts from the same empty server.
func (l *loader) flush(ctx context.Context) error {
	if err := l.client.Do(ctx, l.client.B().Flushall().Sync().Build()).Error(); err != nil {
		return fmt.Errorf("FLUSHALL: %w", err)
	}
	return nil
}

// preload stores value(k) under every key, with keyTTL.
func (l *loader) preload(ctx context.Context, keys []cacheKey, value func(cacheKey) []byte) error {
	cmds := make(rueidis.Commands, 0, preloadBatch)
	for i, k := range keys {
		v := value(k)
		cmds = append(cmds, l.client.B().Set().Key(k.s).Value(rueidis.BinaryString(v)).Px(keyTTL).Build())
		if len(cmds) < preloadBatch && i < len(keys)-1 {
			continue
		}
		for _, r := range l.client.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				return fmt.Errorf("preload %d keys: %w", len(keys), err)
			}
		}
		cmds = cmds[:0]
	}
	return nil
}

// get reads k from the server. found is false when the key does not exist.
func (l *loader) get(ctx context.Context, k cacheKey) (value []byte, found bool, err error) {
	value, err = l.client.Do(ctx, l.client.B().Get().Key(k.s).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, false, nil
	}
	return value, err == nil, err
}

// serverVersion returns the valkey_version field of INFO server, or
// redis_version on a server that has no such field.
func (l *loader) serverVersion(ctx context.Context) (string, error) {
	info, err := l.client.Do(ctx, l.client.B().Info().Section("server").Build()).ToString()
	if err != nil {
		return "", fmt.Errorf("INFO server: %w", err)
	}
	fields := map[string]string{}
	for line := range strings.Lines(info) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok {
			fields[name] = value
		}
	}
	if v := fields["valkey_version"]; v != "" {
		return v, nil
	}
	return fields["redis_version"], nil
}
