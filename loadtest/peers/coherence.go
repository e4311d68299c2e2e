package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"
)

// coherenceSides are the sides with a cache in process memory. The other
// sides read the server on every call, so the coherence check skips them.
var coherenceSides = []string{sideTiered, sideRueidisCache}

// roundTimeout bounds each step of a coherence round: filling the reader's
// cache, and the reader seeing the new value.
const roundTimeout = 2 * time.Second

// coherenceRow is the result of the coherence check of one side.
type coherenceRow struct {
	Side   string `json:"side"`
	Rounds int    `json:"rounds"`
	// Measured counts the rounds in which the reader had the key cached
	// before the write and then saw the new value.
	Measured int `json:"measured"`
	// P50US, P99US and MaxUS are quantiles of the time from the start of
	// the write to the end of the first read in the other client that
	// returned the new value.
	P50US float64 `json:"p50_us"`
	P99US float64 `json:"p99_us"`
	MaxUS float64 `json:"max_us"`
	// WriteP50US is the median time the write itself took.
	WriteP50US float64 `json:"write_p50_us"`
	// StaleAfterAck counts the rounds in which a read that started after the
	// write had returned still returned the old value.
	StaleAfterAck int `json:"stale_after_ack"`
	// NotCached counts rounds skipped because the reader's cache did not
	// serve the key before the write, and Timeouts the rounds in which the
	// reader did not see the new value within roundTimeout.
	NotCached  int    `json:"not_cached"`
	Timeouts   int    `json:"timeouts"`
	Errors     int    `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	Failure    string `json:"failure,omitempty"`
}

// runCoherence opens a writer and a reader client of side and runs
// cfg.CoherenceRounds rounds. In each, the writer stores an old value of a
// fresh key, and the reader reads it until its cache serves it. Then the
// writer stores a new value while the reader polls the key, with
// cfg.PollPause between two reads.
func runCoherence(ctx context.Context, cfg config, addr string, side string, progress io.Writer) (r coherenceRow) {
	r = coherenceRow{Side: side, Rounds: cfg.CoherenceRounds}
	writer, err := openStore(ctx, side, addr, cfg.CacheTTL)
	if err != nil {
		r.Failure = "open writer: " + err.Error()
		return r
	}
	reader, err := openStore(ctx, side, addr, cfg.CacheTTL)
	if err != nil {
		r.Failure = "open reader: " + errors.Join(err, writer.close()).Error()
		return r
	}
	defer func() {
		if err := errors.Join(writer.close(), reader.close()); err != nil && r.Failure == "" {
			r.Failure = "close: " + err.Error()
		}
	}()

	fmt.Fprintf(progress, "coherence, %s: %d rounds\n", side, cfg.CoherenceRounds)
	delays, writes := newHistogram(), newHistogram()
	for i := range cfg.CoherenceRounds {
		if ctx.Err() != nil {
			break
		}
		k := newCacheKey("peers:coherence:" + side + ":" + strconv.Itoa(i))
		res, err := coherenceRound(ctx, writer, reader, k, cfg.ValueSize, cfg.PollPause)
		switch {
		case err != nil:
			r.Errors++
			if r.FirstError == "" {
				r.FirstError = err.Error()
			}
		case res.notCached:
			r.NotCached++
		case res.timedOut:
			r.Timeouts++
		default:
			r.Measured++
			delays.record(res.delay)
			writes.record(res.write)
			if res.staleAfterAck {
				r.StaleAfterAck++
			}
		}
	}
	r.P50US = micros(delays.quantile(0.50))
	r.P99US = micros(delays.quantile(0.99))
	r.MaxUS = micros(delays.quantile(1))
	r.WriteP50US = micros(writes.quantile(0.50))
	return r
}

type roundResult struct {
	delay, write  time.Duration
	staleAfterAck bool
	notCached     bool
	timedOut      bool
}

func coherenceRound(ctx context.Context, writer, reader store, k cacheKey, size int, pollPause time.Duration) (roundResult, error) {
	var res roundResult
	oldValue := makeValue(k, "old", size)
	newValue := makeValue(k, "new", size)
	if err := writer.set(ctx, k, oldValue); err != nil {
		return res, fmt.Errorf("write old value: %w", err)
	}
	cached, err := fillCache(ctx, reader, k, oldValue)
	if err != nil {
		return res, err
	}
	if !cached {
		res.notCached = true
		return res, nil
	}

	// ackNanos is 0 until the write returns, and then the write's duration
	// in nanoseconds plus one, so that 0 always means "not yet".
	var ackNanos atomic.Int64
	type pollResult struct {
		seen          time.Duration
		staleAfterAck bool
		timedOut      bool
		err           error
	}
	done := make(chan pollResult, 1)
	start := time.Now()
	go func() {
		var p pollResult
		for {
			readStart := time.Since(start)
			v, _, err := reader.get(ctx, k)
			if err != nil {
				p.err = fmt.Errorf("poll: %w", err)
				break
			}
			if bytes.Equal(v, newValue) {
				p.seen = time.Since(start)
				break
			}
			if ack := ackNanos.Load(); ack > 0 && readStart >= time.Duration(ack-1) && bytes.Equal(v, oldValue) {
				p.staleAfterAck = true
			}
			if time.Since(start) > roundTimeout {
				p.timedOut = true
				break
			}
			if pollPause > 0 {
				time.Sleep(pollPause)
			}
		}
		done <- p
	}()
	werr := writer.set(ctx, k, newValue)
	ackNanos.Store(int64(time.Since(start)) + 1)
	p := <-done
	if werr != nil {
		return res, fmt.Errorf("write new value: %w", werr)
	}
	if p.err != nil {
		return res, p.err
	}
	res.delay = p.seen
	res.write = time.Duration(ackNanos.Load() - 1)
	res.staleAfterAck = p.staleAfterAck
	res.timedOut = p.timedOut
	return res, nil
}

// fillCache reads k through reader until it returns want and the reader's
// cache counts a hit for the key, and reports whether it did within
// roundTimeout.
func fillCache(ctx context.Context, reader store, k cacheKey, want []byte) (bool, error) {
	deadline := time.Now().Add(roundTimeout)
	for time.Now().Before(deadline) {
		before, _ := reader.hitStats()
		v, _, err := reader.get(ctx, k)
		if err != nil {
			return false, fmt.Errorf("fill reader cache: %w", err)
		}
		after, _ := reader.hitStats()
		if after.hits > before.hits && bytes.Equal(v, want) {
			return true, nil
		}
		time.Sleep(time.Millisecond)
	}
	return false, nil
}
