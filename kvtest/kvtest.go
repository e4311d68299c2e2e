package kvtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
)

// NewClientFunc returns a connected client for one subtest. Run closes it
// when the subtest ends.
type NewClientFunc func(t *testing.T) kv.Client

// Run runs the whole conformance suite against the clients newClient
// returns, one subtest per rule.
func Run(t *testing.T, newClient NewClientFunc) {
	t.Helper()
	for _, tc := range suite {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t)
			require.NotNil(t, c, "newClient returned nil")
			t.Cleanup(func() { _ = c.Close() })
			tc.run(t, &env{c: c, prefix: randomPrefix(t)})
		})
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, e *env)
}

// suite lists every subtest in the order Run executes them.
var suite = []testCase{
	{"GetMissing", testGetMissing},
	{"SetGet", testSetGet},
	{"SetReplacesValueAndTTL", testSetReplacesValueAndTTL},
	{"EmptyValue", testEmptyValue},
	{"LargeValue", testLargeValue},
	{"BinaryKeysAndValues", testBinaryKeysAndValues},
	{"EmptyKey", testEmptyKey},
	{"NoAliasing", testNoAliasing},
	{"InvalidTTL", testInvalidTTL},
	{"TTLReporting", testTTLReporting},
	{"SubMillisecondTTL", testSubMillisecondTTL},
	{"ExpiryInRealTime", testExpiryInRealTime},
	{"Expire", testExpire},
	{"SetNX", testSetNX},
	{"Delete", testDelete},
	{"Exists", testExists},
	{"MGet", testMGet},
	{"MSet", testMSet},
	{"DeleteMany", testDeleteMany},
	{"Incr", testIncr},
	{"IncrNotInteger", testIncrNotInteger},
	{"IncrKeepsTTL", testIncrKeepsTTL},
	{"ScanPrefix", testScanPrefix},
	{"ScanGlobCharacters", testScanGlobCharacters},
	{"ScanLimit", testScanLimit},
	{"ScanEarlyBreak", testScanEarlyBreak},
	{"ScanSkipsDeletedAndExpired", testScanSkipsDeletedAndExpired},
	{"ConcurrentIncr", testConcurrentIncr},
	{"ConcurrentSetNX", testConcurrentSetNX},
	{"CanceledContext", testCanceledContext},
	{"ExpiredDeadline", testExpiredDeadline},
	{"UseAfterClose", testUseAfterClose},
	{"View", testView},
}

// env is the state of one subtest: its client and its key prefix.
type env struct {
	c      kv.Client
	prefix string
}

// key returns a key under the subtest's prefix.
func (e *env) key(name string) []byte {
	return []byte(e.prefix + name)
}

func randomPrefix(t *testing.T) string {
	var b [8]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return "kvtest:" + hex.EncodeToString(b[:]) + ":"
}

// ctx returns a context that ends with the subtest, bounding every call.
func ctx(t *testing.T) context.Context {
	return t.Context()
}
