package remote

import (
	"context"
	"fmt"
	"time"

	"github.com/valkey-io/valkey-glide/go/v2/options"

	"github.com/derp-kv/kv/internal/ttl"
)

// Each script touches one key, so it runs atomically on the node that owns
// the key's hash slot in both modes.

// compareAndSwapLua stores ARGV[3] under KEYS[1] when the key holds ARGV[2]
// (ARGV[1] == "1") or does not exist (ARGV[1] == "0"). ARGV[4] is the ttl in
// milliseconds, "0" for none. GET returns false for a missing key, which is
// never equal to a string.
const compareAndSwapLua = `
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then return 0 end
elseif cur then
  return 0
end
if ARGV[4] == '0' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
end
return 1
`

// compareAndDeleteLua deletes KEYS[1] when it holds ARGV[1].
const compareAndDeleteLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`

// incrWithTTLLua increments KEYS[1] and, when the key has no expiry
// afterwards (a new key, or one persisted by another writer), sets ARGV[1]
// milliseconds on it. It returns the count and the remaining milliseconds.
const incrWithTTLLua = `
local n = redis.call('INCR', KEYS[1])
local t = redis.call('PTTL', KEYS[1])
if t == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  t = tonumber(ARGV[1])
end
return {n, t}
`

// scripts holds the client's Lua scripts. GLIDE keeps each script's source
// in its core and sends EVALSHA, loading the script again when the server
// replies NOSCRIPT (after a restart or SCRIPT FLUSH).
type scripts struct {
	compareAndSwap   *options.Script
	compareAndDelete *options.Script
	incrWithTTL      *options.Script
}

func newScripts() scripts {
	return scripts{
		compareAndSwap:   options.NewScript(compareAndSwapLua),
		compareAndDelete: options.NewScript(compareAndDeleteLua),
		incrWithTTL:      options.NewScript(incrWithTTLLua),
	}
}

// close drops the scripts from GLIDE's core. It runs after the GLIDE client
// is closed, so no request can still use them.
func (s scripts) close() {
	s.compareAndSwap.Close()
	s.compareAndDelete.Close()
	s.incrWithTTL.Close()
}

// invoke runs script s on key and maps its errors, including a failed
// INCR inside the script to kv.ErrNotInteger.
func (c *Client) invoke(ctx context.Context, op string, s *options.Script, key string, args ...string) (any, error) {
	var r any
	err := c.do(ctx, true, func(g context.Context) (err error) {
		r, err = c.cmd.InvokeScriptWithOptions(g, *s, options.ScriptOptions{Keys: []string{key}, Args: args})
		return err
	})
	if err != nil {
		return nil, incrError(op, err)
	}
	return r, nil
}

// CompareAndSwap stores value under key with ttl (0 means no expiry) if the
// key holds old, or if old is nil and the key does not exist, in one Lua
// script. An empty non-nil old matches a stored empty value.
func (c *Client) CompareAndSwap(ctx context.Context, key, old, value []byte, ttlIn time.Duration) (bool, error) {
	d, err := ttl.ForWrite(ttlIn)
	if err != nil {
		return false, opError("compareandswap", err)
	}
	mode := "1"
	if old == nil {
		mode = "0"
	}
	r, err := c.invoke(ctx, "compareandswap", c.scripts.compareAndSwap, str(key), mode, str(old), str(value), itoa(ttl.Millis(d)))
	if err != nil {
		return false, err
	}
	return r == int64(1), nil
}

// CompareAndDelete deletes key if it holds old, in one Lua script. A nil old
// matches a stored empty value, as bytes.Equal would.
func (c *Client) CompareAndDelete(ctx context.Context, key, old []byte) (bool, error) {
	r, err := c.invoke(ctx, "compareanddelete", c.scripts.compareAndDelete, str(key), str(old))
	if err != nil {
		return false, err
	}
	return r == int64(1), nil
}

// IncrWithTTL runs INCR, then PEXPIRE when PTTL reports no expiry, in one
// Lua script, and returns the count and the remaining ttl.
func (c *Client) IncrWithTTL(ctx context.Context, key []byte, ttlIn time.Duration) (int64, time.Duration, error) {
	d, err := ttl.ForExpire(ttlIn)
	if err != nil {
		return 0, 0, opError("incrwithttl", err)
	}
	r, err := c.invoke(ctx, "incrwithttl", c.scripts.incrWithTTL, str(key), itoa(ttl.Millis(d)))
	if err != nil {
		return 0, 0, err
	}
	pair, ok := r.([]any)
	if !ok || len(pair) != 2 {
		return 0, 0, opError("incrwithttl", fmt.Errorf("unexpected script reply %v", r))
	}
	n, ok1 := pair[0].(int64)
	ms, ok2 := pair[1].(int64)
	if !ok1 || !ok2 {
		return 0, 0, opError("incrwithttl", fmt.Errorf("unexpected script reply %v", r))
	}
	return n, time.Duration(ms) * time.Millisecond, nil
}
