// Command loadtest drives the kv tiers with realistic workloads and reports
// throughput, latency quantiles and the behaviour each scenario checks, with
// the tiers side by side:
//
//   - local: a local.Client alone, in process.
//   - remote: a remote.Client against Valkey.
//   - raw: the GLIDE client that a remote.Client connected, called directly
//     (GET, SET with PX, INCR), the floor that remote's overhead is measured
//     against.
//   - tiered: a local L1 in front of a remote L2, composed by tiered.New.
//
// Scenarios:
//
//   - zipf: skewed reads and a share of writes over a preloaded key set.
//   - mixed: writers and readers in several processes; reports how long a
//     write takes to reach readers in other processes and counts stale reads.
//   - stampede: every worker of every process requests one cold key at once.
//     It reports how often the value was computed per key (GetOrCompute in
//     tiered mode, naive cache-aside in remote mode).
//   - ratelimit: many workers and processes on a few keys through
//     patterns.RateLimit; reports the most requests allowed in one window
//     beside the limit.
//   - idempotency: concurrent duplicates through patterns.IdempotentExecute;
//     reports how often the handler ran per key.
//
// With no flags it runs every scenario in every mode it supports, in about
// two to three minutes on two cores, against a throwaway valkey-server that
// it starts on a free loopback port and stops at the end. -addr, -url or
// -cluster point it at an existing deployment instead. -procs N runs each
// scenario in N OS processes (this binary, started again with a hidden flag)
// that share the Valkey and send their histograms and counters to the parent,
// which merges them.
//
// Live progress goes to stderr about once a second; the report table goes to
// stdout, and -json FILE writes the same rows as a JSON array. Latencies come
// from log-linear histograms (0.78 % relative error), one per worker, merged
// before any quantile is taken.
//
// docs/loadtest.md describes every flag, scenario and report field.
//
// Usage:
//
//	go run ./loadtest [flags]
//	make loadtest LOADTEST_FLAGS='-scenario zipf -mode tiered -duration 30s'
package main
