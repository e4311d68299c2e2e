// Package kvtest is the conformance suite for [kv.Client]. One call runs
// every rule of the contract in package kv as subtests against an
// implementation. The in-process tier, the Valkey tier, their composition
// and any third-party implementation are held to the same behaviour.
//
// Use it from a test of the implementation's package:
//
//	func TestConformance(t *testing.T) {
//		kvtest.Run(t, func(t *testing.T) kv.Client {
//			c, err := local.New()
//			require.NoError(t, err)
//			return c
//		})
//	}
//
// A client that also implements [kv.Viewer] is held to the rules of Get
// through View as well; for other clients that subtest is skipped.
//
// Each subtest gets a fresh client, uses keys under a random prefix of
// its own (so suites may share one server), and closes the client when it
// ends. The suite checks expiry in real time, so it takes a few seconds.
package kvtest
