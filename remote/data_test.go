package remote_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/remote"
	"github.com/derp-kv/kv/tiered"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// binary returns a string with NUL, 0xff, invalid UTF-8 and glob
// characters, unique to the test and name.
func binary(t *testing.T, name string) []byte {
	return []byte(uniqueKey(t, name) + "\x00\xff\xfe\xc3(*?[]\\" + "\x80end")
}

func TestBinarySafe(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := testContext(t)
			c := newClient(t, mode.config())
			prefix := binary(t, "prefix")
			key := func(i int) []byte { return append(slices.Clone(prefix), byte(i), 0, 0xff) }
			value := func(i int) []byte { return []byte{0, 0xff, byte(i), 0xc3, 0x28, 0} }

			require.NoError(t, c.Set(ctx, key(0), value(0), 0))
			got, found, err := c.Get(ctx, key(0))
			require.NoError(t, err)
			require.True(t, found)
			assert.Equal(t, value(0), got, "Get")

			set, err := c.SetNX(ctx, key(1), value(1), time.Minute)
			require.NoError(t, err)
			assert.True(t, set)

			items := []kv.Item{{Key: key(2), Value: value(2)}, {Key: key(3), Value: value(3)}}
			require.NoError(t, c.MSet(ctx, items, 0), "MSet without ttl")
			items = []kv.Item{{Key: key(4), Value: value(4)}, {Key: key(5), Value: value(5)}}
			require.NoError(t, c.MSet(ctx, items, time.Minute), "MSet with ttl")

			keys := [][]byte{key(0), key(1), key(2), key(3), key(4), key(5), key(6)}
			values, err := c.MGet(ctx, keys)
			require.NoError(t, err)
			for i := range 6 {
				assert.Equal(t, value(i), values[i], "MGet value %d", i)
			}
			assert.Nil(t, values[6], "MGet of a missing key")

			var scanned [][]byte
			for k, err := range c.Scan(ctx, prefix, 0) {
				require.NoError(t, err)
				scanned = append(scanned, k)
			}
			slices.SortFunc(scanned, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })
			assert.Equal(t, keys[:6], scanned, "Scan")

			exists, err := c.Exists(ctx, key(4))
			require.NoError(t, err)
			assert.True(t, exists)
			ok, err := c.Expire(ctx, key(4), time.Hour)
			require.NoError(t, err)
			assert.True(t, ok)
			ttl, found, err := c.TTL(ctx, key(4))
			require.NoError(t, err)
			assert.True(t, found)
			assert.Greater(t, ttl, 59*time.Minute)

			swapped, err := c.CompareAndSwap(ctx, key(0), value(0), value(9), 0)
			require.NoError(t, err)
			assert.True(t, swapped, "CompareAndSwap with a binary old value")
			got, _, err = c.Get(ctx, key(0))
			require.NoError(t, err)
			assert.Equal(t, value(9), got)
			deleted, err := c.CompareAndDelete(ctx, key(0), value(9))
			require.NoError(t, err)
			assert.True(t, deleted, "CompareAndDelete with a binary old value")

			counter := append(slices.Clone(prefix), 0xff, 0)
			n, _, err := c.IncrWithTTL(ctx, counter, time.Minute)
			require.NoError(t, err)
			assert.Equal(t, int64(1), n)
			n, err = c.Incr(ctx, counter)
			require.NoError(t, err)
			assert.Equal(t, int64(2), n)

			deleted, err = c.Delete(ctx, key(5))
			require.NoError(t, err)
			assert.True(t, deleted, "Delete of a binary key")

			count, err := c.DeleteMany(ctx, append(keys, counter, key(1)))
			require.NoError(t, err)
			assert.Equal(t, 5, count, "DeleteMany counts the four remaining keys and the counter once")
		})
	}
}

func TestTTLInMilliseconds(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := testContext(t)
			c := newClient(t, mode.config())
			k := []byte(uniqueKey(t, "k"))

			// 1.5 s is not a whole number of seconds: a client that sends
			// EX or fractional seconds fails or rounds it.
			require.NoError(t, c.Set(ctx, k, []byte("v"), 1500*time.Millisecond))
			requireTTLIn(t, c, k, 1400*time.Millisecond, 1500*time.Millisecond)

			ok, err := c.Expire(ctx, k, 2500*time.Millisecond)
			require.NoError(t, err)
			require.True(t, ok)
			requireTTLIn(t, c, k, 2400*time.Millisecond, 2500*time.Millisecond)

			items := []kv.Item{{Key: k, Value: []byte("v")}, {Key: []byte(uniqueKey(t, "k2")), Value: []byte("w")}}
			require.NoError(t, c.MSet(ctx, items, 1700*time.Millisecond))
			for _, it := range items {
				requireTTLIn(t, c, it.Key, 1600*time.Millisecond, 1700*time.Millisecond)
			}

			nx := []byte(uniqueKey(t, "nx"))
			set, err := c.SetNX(ctx, nx, []byte("v"), 1200*time.Millisecond)
			require.NoError(t, err)
			require.True(t, set)
			requireTTLIn(t, c, nx, 1100*time.Millisecond, 1200*time.Millisecond)
		})
	}
}

func TestMSetDuplicateKeyLastWins(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := testContext(t)
			c := newClient(t, mode.config())
			for _, ttl := range []time.Duration{0, time.Minute} {
				k := []byte(uniqueKey(t, "dup"))
				items := []kv.Item{
					{Key: k, Value: []byte("1")},
					{Key: []byte(uniqueKey(t, "other")), Value: []byte("x")},
					{Key: k, Value: []byte("2")},
					{Key: k, Value: []byte("3")},
				}
				require.NoError(t, c.MSet(ctx, items, ttl))
				v, found, err := c.Get(ctx, k)
				require.NoError(t, err)
				require.True(t, found)
				assert.Equal(t, "3", string(v), "MSet with ttl %v", ttl)
			}
		})
	}
}

// TestLargestTTL checks that the largest time.Duration reaches the server
// as a ttl of about 292 years, without overflowing on the way.
func TestLargestTTL(t *testing.T) {
	const largest = time.Duration(math.MaxInt64)
	const twoCenturies = 200 * 365 * 24 * time.Hour
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := testContext(t)
			c := newClient(t, mode.config())
			k := []byte(uniqueKey(t, "k"))

			require.NoError(t, c.Set(ctx, k, []byte("v"), largest))
			ttl, found, err := c.TTL(ctx, k)
			require.NoError(t, err)
			require.True(t, found)
			assert.Greater(t, ttl, twoCenturies, "Set")

			ok, err := c.Expire(ctx, k, largest)
			require.NoError(t, err)
			assert.True(t, ok, "Expire")

			ok, err = c.CompareAndSwap(ctx, k, []byte("v"), []byte("w"), largest)
			require.NoError(t, err)
			assert.True(t, ok, "CompareAndSwap")

			_, remaining, err := c.IncrWithTTL(ctx, []byte(uniqueKey(t, "n")), largest)
			require.NoError(t, err)
			assert.Greater(t, remaining, twoCenturies, "IncrWithTTL")
		})
	}
}

func requireTTLIn(t *testing.T, c kv.Client, key []byte, low, high time.Duration) {
	t.Helper()
	ttl, found, err := c.TTL(context.Background(), key)
	require.NoError(t, err)
	require.True(t, found, "key %q missing", key)
	assert.GreaterOrEqual(t, ttl, low)
	assert.LessOrEqual(t, ttl, high)
}

func TestClusterCrossSlot(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, clusterConfig())
	var items []kv.Item
	var keys [][]byte
	for i := range 60 {
		k := []byte(fmt.Sprintf("%s:%d", uniqueKey(t, "k"), i))
		items = append(items, kv.Item{Key: k, Value: []byte(fmt.Sprint(i))})
		keys = append(keys, k)
	}
	require.Greater(t, len(slotsOf(t, keys)), 10, "the keys must span many slots")

	for _, ttl := range []time.Duration{0, time.Minute} {
		require.NoError(t, c.MSet(ctx, items, ttl))
		values, err := c.MGet(ctx, keys)
		require.NoError(t, err)
		for i, v := range values {
			assert.Equal(t, []byte(fmt.Sprint(i)), v, "MGet order across slots")
		}
	}

	withDuplicates := append(slices.Clone(keys), keys[:20]...)
	withDuplicates = append(withDuplicates, []byte(uniqueKey(t, "missing")))
	n, err := c.DeleteMany(ctx, withDuplicates)
	require.NoError(t, err)
	assert.Equal(t, len(keys), n)
	values, err := c.MGet(ctx, keys)
	require.NoError(t, err)
	for _, v := range values {
		assert.Nil(t, v)
	}
}

// slotsOf returns the set of hash slots of keys, asked from the cluster.
func slotsOf(t *testing.T, keys [][]byte) map[string]bool {
	slots := map[string]bool{}
	for _, k := range keys {
		out, err := clusterServers.Nodes[0].CLI("CLUSTER", "KEYSLOT", string(k))
		require.NoError(t, err)
		slots[strings.TrimSpace(out)] = true
	}
	return slots
}

func TestMSetTTLSurvivesPartialFailure(t *testing.T) {
	ctx := testContext(t)
	cfg := clusterConfig()
	cfg.RequestTimeout = 300 * time.Millisecond
	c := newClient(t, cfg)
	var items []kv.Item
	for i := range 60 {
		items = append(items, kv.Item{Key: []byte(fmt.Sprintf("%s:%d", uniqueKey(t, "k"), i)), Value: []byte("v")})
	}

	// Pausing writes on one master makes its part of the pipeline time out
	// while the other masters apply theirs.
	paused := clusterServers.Nodes[0]
	_, err := paused.CLI("CLIENT", "PAUSE", "2000", "WRITE")
	require.NoError(t, err)
	err = c.MSet(ctx, items, time.Minute)
	_, unpauseErr := paused.CLI("CLIENT", "UNPAUSE")
	require.NoError(t, unpauseErr)
	require.ErrorIs(t, err, context.DeadlineExceeded, "MSet with one master paused")

	// The paused master applies its commands once unpaused; every key that
	// exists, then or now, has its ttl.
	written := 0
	for _, it := range items {
		ttl, found, err := c.TTL(ctx, it.Key)
		require.NoError(t, err)
		if found {
			written++
			assert.Greater(t, ttl, 50*time.Second, "key %s has no ttl", it.Key)
		}
	}
	assert.Greater(t, written, 0)
}

func TestRawClients(t *testing.T) {
	s := newClient(t, standaloneConfig())
	assert.NotNil(t, s.Standalone())
	assert.Nil(t, s.Cluster())
	pong, err := s.Standalone().Ping(testContext(t))
	require.NoError(t, err)
	assert.Equal(t, "PONG", pong)

	c := newClient(t, clusterConfig())
	assert.Nil(t, c.Standalone())
	assert.NotNil(t, c.Cluster())
	assert.Equal(t, kv.Capabilities{TTL: true, Scan: true, Batch: true}, c.Capabilities())
	require.NoError(t, c.Connect(testContext(t)))
}

func TestNewDoesNotModifyConfig(t *testing.T) {
	cfg := standaloneConfig()
	cfg.RequestTimeout = 0
	before := cfg.String()
	addrs := slices.Clone(cfg.Addresses)
	c := newClient(t, cfg)
	require.NotNil(t, c)
	assert.Equal(t, before, cfg.String())
	assert.Equal(t, addrs, cfg.Addresses)
}

// remote.Client must keep satisfying the optional interface that package
// tiered looks for.
var _ tiered.TTLGetter = (*remote.Client)(nil)

func TestMGetWithTTL(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			ctx := testContext(t)
			c := newClient(t, mode.config())
			withTTL := binary(t, "ttl")
			noTTL := []byte(uniqueKey(t, "forever"))
			empty := []byte(uniqueKey(t, "empty"))
			missing := []byte(uniqueKey(t, "missing"))
			require.NoError(t, c.Set(ctx, withTTL, []byte("\x00v\xff"), time.Minute))
			require.NoError(t, c.Set(ctx, noTTL, []byte("w"), 0))
			require.NoError(t, c.Set(ctx, empty, []byte{}, 0))

			values, ttls, err := c.MGetWithTTL(ctx, [][]byte{withTTL, missing, noTTL, empty})
			require.NoError(t, err)
			assert.Equal(t, [][]byte{[]byte("\x00v\xff"), nil, []byte("w"), {}}, values)
			assert.Greater(t, ttls[0], 59*time.Second)
			assert.LessOrEqual(t, ttls[0], time.Minute)
			assert.Equal(t, kv.NoExpiry, ttls[2])
			assert.Equal(t, kv.NoExpiry, ttls[3])

			values, ttls, err = c.MGetWithTTL(ctx, [][]byte{empty, missing, empty})
			require.NoError(t, err)
			assert.Equal(t, [][]byte{{}, nil, {}}, values, "a repeated key")
			assert.Equal(t, []time.Duration{kv.NoExpiry, 0, kv.NoExpiry}, ttls, "a repeated key")

			values, ttls, err = c.MGetWithTTL(ctx, nil)
			require.NoError(t, err)
			assert.Empty(t, values)
			assert.Empty(t, ttls)
		})
	}
}
