package remote

import (
	"context"
	"strconv"
	"time"
	"unsafe"

	"github.com/valkey-io/valkey-glide/go/v2/constants"
	"github.com/valkey-io/valkey-glide/go/v2/models"
	"github.com/valkey-io/valkey-glide/go/v2/options"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/internal/ttl"
)

// str views b as a string without copying. GLIDE's API takes strings but
// hands their bytes to its core, which copies them into the outgoing
// command before the GLIDE call returns. The string never outlives the
// call, so the caller may change b afterwards. Every byte, including NUL
// and invalid UTF-8, passes through unchanged.
func str(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = str(b)
	}
	return out
}

// pxExpiry builds the PX option by hand: options.NewExpiryIn switches to
// EX for whole seconds and sends PX 0 for a ttl under a millisecond.
func pxExpiry(d time.Duration) *options.Expiry {
	return &options.Expiry{Type: constants.Milliseconds, Duration: uint64(ttl.Millis(d))}
}

// Get returns a copy of the value stored under key.
func (c *Client) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	var r models.Result[string]
	err := c.do(ctx, true, func(g context.Context) (err error) {
		r, err = c.cmd.Get(g, str(key))
		return err
	})
	if err != nil {
		return nil, false, glideError("get", err)
	}
	if r.IsNil() {
		return nil, false, nil
	}
	// Converting copies, so that the caller owns the slice. A view would not
	// do, because a one-byte string from GLIDE may share static runtime
	// memory.
	return []byte(r.Value()), true, nil
}

// Set stores value under key with SET, adding PX for a positive ttl.
func (c *Client) Set(ctx context.Context, key, value []byte, ttlIn time.Duration) error {
	d, err := ttl.ForWrite(ttlIn)
	if err != nil {
		return opError("set", err)
	}
	err = c.do(ctx, true, func(g context.Context) (err error) {
		if d == 0 {
			_, err = c.cmd.Set(g, str(key), str(value))
		} else {
			opts := options.SetOptions{Expiry: pxExpiry(d)}
			_, err = c.cmd.SetWithOptions(g, str(key), str(value), opts)
		}
		return err
	})
	if err != nil {
		return glideError("set", err)
	}
	return nil
}

// SetNX stores value under key with SET NX, adding PX for a positive ttl.
func (c *Client) SetNX(ctx context.Context, key, value []byte, ttlIn time.Duration) (bool, error) {
	d, err := ttl.ForWrite(ttlIn)
	if err != nil {
		return false, opError("setnx", err)
	}
	opts := options.SetOptions{ConditionalSet: constants.OnlyIfDoesNotExist}
	if d > 0 {
		opts.Expiry = pxExpiry(d)
	}
	var r models.Result[string]
	err = c.do(ctx, true, func(g context.Context) (err error) {
		r, err = c.cmd.SetWithOptions(g, str(key), str(value), opts)
		return err
	})
	if err != nil {
		return false, glideError("setnx", err)
	}
	return !r.IsNil(), nil
}

// Delete removes key with DEL.
func (c *Client) Delete(ctx context.Context, key []byte) (bool, error) {
	var n int64
	err := c.do(ctx, true, func(g context.Context) (err error) {
		n, err = c.cmd.Del(g, []string{str(key)})
		return err
	})
	if err != nil {
		return false, glideError("delete", err)
	}
	return n > 0, nil
}

// Exists reports whether key exists, with EXISTS.
func (c *Client) Exists(ctx context.Context, key []byte) (bool, error) {
	var n int64
	err := c.do(ctx, true, func(g context.Context) (err error) {
		n, err = c.cmd.Exists(g, []string{str(key)})
		return err
	})
	if err != nil {
		return false, glideError("exists", err)
	}
	return n > 0, nil
}

// TTL returns the remaining time to live of key, read with PTTL.
func (c *Client) TTL(ctx context.Context, key []byte) (time.Duration, bool, error) {
	var ms int64
	err := c.do(ctx, true, func(g context.Context) (err error) {
		ms, err = c.cmd.PTTL(g, str(key))
		return err
	})
	if err != nil {
		return 0, false, glideError("ttl", err)
	}
	switch {
	case ms == -2:
		return 0, false, nil
	case ms == -1:
		return kv.NoExpiry, true, nil
	default:
		return time.Duration(ms) * time.Millisecond, true, nil
	}
}

// Expire sets a new ttl on key with PEXPIRE.
func (c *Client) Expire(ctx context.Context, key []byte, ttlIn time.Duration) (bool, error) {
	d, err := ttl.ForExpire(ttlIn)
	if err != nil {
		return false, opError("expire", err)
	}
	// PExpire sends d in whole milliseconds, which ForExpire has rounded to.
	var ok bool
	err = c.do(ctx, true, func(g context.Context) (err error) {
		ok, err = c.cmd.PExpire(g, str(key), d)
		return err
	})
	if err != nil {
		return false, glideError("expire", err)
	}
	return ok, nil
}

// Incr adds one to the integer under key with INCR. It returns an error
// wrapping kv.ErrNotInteger when the server rejects the value.
func (c *Client) Incr(ctx context.Context, key []byte) (int64, error) {
	var n int64
	err := c.do(ctx, true, func(g context.Context) (err error) {
		n, err = c.cmd.Incr(g, str(key))
		return err
	})
	if err != nil {
		return 0, incrError("incr", err)
	}
	return n, nil
}

func incrError(op string, err error) error {
	if isNotInteger(err) {
		return opError(op, kv.ErrNotInteger)
	}
	return glideError(op, err)
}

// resultBytes converts a GLIDE string result to the kv form: nil for a
// missing key, a copy of the value otherwise.
func resultBytes(r models.Result[string]) []byte {
	if r.IsNil() {
		return nil
	}
	return []byte(r.Value())
}

func itoa(n int64) string {
	return strconv.FormatInt(n, 10)
}
