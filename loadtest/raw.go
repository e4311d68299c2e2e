package main

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/valkey-io/valkey-glide/go/v2/constants"
	"github.com/valkey-io/valkey-glide/go/v2/models"
	"github.com/valkey-io/valkey-glide/go/v2/options"

	"github.com/derp-kv/kv"
)

// glideCommands is the part of the GLIDE API that raw mode calls; both
// *glide.Client and *glide.ClusterClient have it.
type glideCommands interface {
	Get(ctx context.Context, key string) (models.Result[string], error)
	SetWithOptions(ctx context.Context, key, value string, opts options.SetOptions) (models.Result[string], error)
	Incr(ctx context.Context, key string) (int64, error)
}

// rawClient is the baseline of raw mode: each call is one GLIDE command,
// made on the GLIDE client that a remote.Client connected, with none of
// remote's code (in-flight bound, error wrapping, key conversion beyond the
// string GLIDE needs) on the request path. It implements kv.Client so that
// the scenarios can drive it, but only Get, Set and Incr reach Valkey; every
// other method returns kv.ErrUnsupported.
type rawClient struct {
	cmd glideCommands
}

func newRawTarget(c config) (*target, error) {
	rc, err := newRemoteClient(c)
	if err != nil {
		return nil, err
	}
	raw := &rawClient{}
	if g := rc.Standalone(); g != nil {
		raw.cmd = g
	} else {
		raw.cmd = rc.Cluster()
	}
	return &target{mode: modeRaw, client: raw, shared: raw, loader: rc, closers: []func() error{rc.Close}}, nil
}

func (r *rawClient) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	res, err := r.cmd.Get(ctx, string(key))
	if err != nil {
		return nil, false, err
	}
	if res.IsNil() {
		return nil, false, nil
	}
	return []byte(res.Value()), true, nil
}

func (r *rawClient) Set(ctx context.Context, key, value []byte, ttl time.Duration) error {
	opts := options.NewSetOptions()
	if ttl > 0 {
		opts.SetExpiry(&options.Expiry{Type: constants.Milliseconds, Duration: uint64(max(ttl.Milliseconds(), 1))})
	}
	_, err := r.cmd.SetWithOptions(ctx, string(key), string(value), *opts)
	return err
}

func (r *rawClient) Incr(ctx context.Context, key []byte) (int64, error) {
	return r.cmd.Incr(ctx, string(key))
}

func (r *rawClient) Connect(context.Context) error { return nil }

// Close does nothing: the target closes the remote.Client that owns the
// GLIDE connection.
func (r *rawClient) Close() error { return nil }

func (r *rawClient) Capabilities() kv.Capabilities { return kv.Capabilities{TTL: true} }

func unsupported(op string) error {
	return fmt.Errorf("kv: loadtest: raw %s: %w", op, kv.ErrUnsupported)
}

func (r *rawClient) SetNX(context.Context, []byte, []byte, time.Duration) (bool, error) {
	return false, unsupported("setnx")
}

func (r *rawClient) Delete(context.Context, []byte) (bool, error) {
	return false, unsupported("delete")
}

func (r *rawClient) Exists(context.Context, []byte) (bool, error) {
	return false, unsupported("exists")
}

// MGet is unsupported like the other batch calls; the scenarios preload raw
// mode's keys with Set.
func (r *rawClient) MGet(context.Context, [][]byte) ([][]byte, error) {
	return nil, unsupported("mget")
}

func (r *rawClient) MSet(context.Context, []kv.Item, time.Duration) error {
	return unsupported("mset")
}

func (r *rawClient) DeleteMany(context.Context, [][]byte) (int, error) {
	return 0, unsupported("deletemany")
}

func (r *rawClient) TTL(context.Context, []byte) (time.Duration, bool, error) {
	return 0, false, unsupported("ttl")
}

func (r *rawClient) Expire(context.Context, []byte, time.Duration) (bool, error) {
	return false, unsupported("expire")
}

func (r *rawClient) Scan(context.Context, []byte, int) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) { yield(nil, unsupported("scan")) }
}
