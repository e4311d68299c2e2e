package patterns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/derp-kv/kv"
)

// Defaults of IdempotentExecute.
const (
	DefaultIdempotencyPrefix = "derp:idempotency"
	DefaultIdempotencyTTL    = 24 * time.Hour
	DefaultProcessingTTL     = 30 * time.Second
	// idempotencyPoll is how often a waiting call reads the key again.
	idempotencyPoll = 20 * time.Millisecond
)

var (
	// ErrIdempotencyKeyReused is returned by IdempotentExecute when the key
	// was first used with a different fingerprint, that is, for a different
	// request. IdempotencyMiddleware responds to it with 422.
	ErrIdempotencyKeyReused = errors.New("kv: patterns: idempotency key reused with a different request")
	// ErrIdempotencyInProgress is returned by IdempotentExecute with
	// WithoutWaiting while another call still runs compute for the key.
	// IdempotencyMiddleware responds to it with 409.
	ErrIdempotencyInProgress = errors.New("kv: patterns: idempotency key is still being processed")
)

// IdempotentResult is the outcome of IdempotentExecute.
type IdempotentResult[T any] struct {
	// Body is the value compute returned, decoded from JSON on a replay.
	Body T
	// StatusCode is the status stored with the body (WithStatusCode).
	StatusCode int
	// Replay is true when the result comes from an earlier call's compute.
	Replay bool
}

// IdempotencyOption configures IdempotentExecute and IdempotencyMiddleware.
type IdempotencyOption func(*idempotencyConfig)

type idempotencyConfig struct {
	statusCode    int
	ttl           time.Duration
	processingTTL time.Duration
	prefix        string
	fingerprint   string
	wait          bool
}

// WithStatusCode sets the status code stored with the body (default 200).
func WithStatusCode(code int) IdempotencyOption {
	return func(c *idempotencyConfig) { c.statusCode = code }
}

// WithIdempotencyTTL sets how long a result is kept for replay (default
// 24 h). Size it to the longest time a client may retry a request.
func WithIdempotencyTTL(d time.Duration) IdempotencyOption {
	return func(c *idempotencyConfig) { c.ttl = d }
}

// WithProcessingTTL sets how long a call may run compute before its claim
// on the key expires and another call may run compute again (default 30 s).
// Size it above the slowest compute: the claim is what stops a second run.
// It also bounds how long a crashed call blocks its key.
func WithProcessingTTL(d time.Duration) IdempotencyOption {
	return func(c *idempotencyConfig) { c.processingTTL = d }
}

// WithIdempotencyPrefix sets the key prefix (default "derp:idempotency").
// The stored key is prefix + ":" + key.
func WithIdempotencyPrefix(prefix string) IdempotencyOption {
	return func(c *idempotencyConfig) { c.prefix = prefix }
}

// WithFingerprint sets a digest of the request, stored with the key. A later
// call with the same key and a different fingerprint gets
// ErrIdempotencyKeyReused. A call without a fingerprint skips the check.
func WithFingerprint(fingerprint string) IdempotencyOption {
	return func(c *idempotencyConfig) { c.fingerprint = fingerprint }
}

// WithoutWaiting makes a call that finds compute still running for its key
// return ErrIdempotencyInProgress at once. By default it waits for the
// result, polling every 20 ms, until its ctx ends.
func WithoutWaiting() IdempotencyOption {
	return func(c *idempotencyConfig) { c.wait = false }
}

func newIdempotencyConfig(opts []IdempotencyOption) (idempotencyConfig, error) {
	cfg := idempotencyConfig{
		statusCode:    http.StatusOK,
		ttl:           DefaultIdempotencyTTL,
		processingTTL: DefaultProcessingTTL,
		prefix:        DefaultIdempotencyPrefix,
		wait:          true,
	}
	if err := applyOptions("idempotent execute", &cfg, opts); err != nil {
		return cfg, err
	}
	if cfg.ttl <= 0 || cfg.processingTTL <= 0 {
		return cfg, fmt.Errorf("kv: patterns: idempotent execute: ttl (%v) and processing ttl (%v) must be positive", cfg.ttl, cfg.processingTTL)
	}
	return cfg, nil
}

// idempotencyRecord is the JSON stored under an idempotency key: a claim
// while compute runs, then the result.
type idempotencyRecord struct {
	// State is "processing" or "done".
	State string `json:"state"`
	// Token identifies the call that holds a processing claim.
	Token       string          `json:"token,omitempty"`
	Fingerprint string          `json:"fingerprint,omitempty"`
	StatusCode  int             `json:"status,omitempty"`
	Body        json.RawMessage `json:"body,omitempty"`
}

const (
	stateProcessing = "processing"
	stateDone       = "done"
)

// IdempotentExecute runs compute once per key across every process sharing
// the backend, stores its result as JSON for the TTL, and returns the stored
// result with Replay=true to every later call with the key.
//
// While one call runs compute, the others with the same key wait for its
// result (or, with WithoutWaiting, return ErrIdempotencyInProgress). A
// compute error is returned and nothing is stored, so a retry runs compute
// again; a panic releases the key and is raised again. c must implement
// kv.Swapper; otherwise the error wraps kv.ErrUnsupported.
//
// Compute runs with ctx: a caller that gives up cancels its own compute,
// which then fails and leaves the key free for a retry. If compute outlives
// the processing TTL, a second call may run it too.
func IdempotentExecute[T any](ctx context.Context, c kv.Client, key string, compute func(context.Context) (T, error), opts ...IdempotencyOption) (IdempotentResult[T], error) {
	var zero IdempotentResult[T]
	if compute == nil {
		panic("kv: patterns: idempotent execute: nil compute function")
	}
	cfg, err := newIdempotencyConfig(opts)
	if err != nil {
		return zero, err
	}
	swapper, ok := c.(kv.Swapper)
	if !ok {
		return zero, fmt.Errorf("kv: patterns: idempotent execute: %T does not implement kv.Swapper, which claims need: %w", c, kv.ErrUnsupported)
	}
	storeKey := []byte(cfg.prefix + ":" + key)

	for {
		claim, err := newClaim(cfg.fingerprint)
		if err != nil {
			return zero, err
		}
		claimed, err := c.SetNX(ctx, storeKey, claim, cfg.processingTTL)
		if err != nil {
			releaseUncertainClaim(ctx, swapper, storeKey, claim, cfg.processingTTL)
			return zero, fmt.Errorf("kv: patterns: idempotent execute: claim %q: %w", key, err)
		}
		if claimed {
			return runIdempotent(ctx, c, swapper, storeKey, claim, cfg, compute)
		}

		rec, found, err := readRecord(ctx, c, storeKey)
		if err != nil {
			return zero, err
		}
		if !found {
			continue // the claim expired or was released: claim again
		}
		if cfg.fingerprint != "" && rec.Fingerprint != cfg.fingerprint {
			return zero, fmt.Errorf("%w: key %q", ErrIdempotencyKeyReused, key)
		}
		if rec.State == stateDone {
			return replay[T](rec, key)
		}
		if !cfg.wait {
			return zero, fmt.Errorf("%w: key %q", ErrIdempotencyInProgress, key)
		}
		if err := sleepCtx(ctx, idempotencyPoll); err != nil {
			return zero, fmt.Errorf("kv: patterns: idempotent execute: wait for %q: %w", key, err)
		}
	}
}

// releaseUncertainClaim deletes claim from key after its SET NX failed. The
// command may have reached the server all the same (a request cancelled by
// its context still runs there), and a claim that no caller knows it holds
// would block the key until it expires. The claim's token is unique, so the
// delete removes nothing else. It runs detached from ctx, which has usually
// ended, and within timeout. Valkey runs a client's commands in order, so it
// deletes a claim still queued behind a paused server too.
func releaseUncertainClaim(ctx context.Context, swapper kv.Swapper, key, claim []byte, timeout time.Duration) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	_, _ = swapper.CompareAndDelete(rctx, key, claim)
}

func newClaim(fingerprint string) ([]byte, error) {
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return nil, fmt.Errorf("kv: patterns: make claim token: %w", err)
	}
	return json.Marshal(idempotencyRecord{State: stateProcessing, Token: hex.EncodeToString(token), Fingerprint: fingerprint})
}

func readRecord(ctx context.Context, c kv.Client, storeKey []byte) (idempotencyRecord, bool, error) {
	var rec idempotencyRecord
	raw, found, err := c.Get(ctx, storeKey)
	if err != nil || !found {
		return rec, false, wrapRead(storeKey, err)
	}
	if err := json.Unmarshal(raw, &rec); err != nil || (rec.State != stateProcessing && rec.State != stateDone) {
		return rec, false, fmt.Errorf("kv: patterns: idempotent execute: key %q contains %q, which is not an idempotency record", storeKey, raw)
	}
	return rec, true, nil
}

func wrapRead(storeKey []byte, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("kv: patterns: idempotent execute: read %q: %w", storeKey, err)
}

func replay[T any](rec idempotencyRecord, key string) (IdempotentResult[T], error) {
	res := IdempotentResult[T]{StatusCode: rec.StatusCode, Replay: true}
	if err := json.Unmarshal(rec.Body, &res.Body); err != nil {
		return IdempotentResult[T]{}, fmt.Errorf("kv: patterns: idempotent execute: decode stored body of %q into %T: %w", key, res.Body, err)
	}
	return res, nil
}

// runIdempotent runs compute under the claim and stores its result, or
// releases the claim when compute fails or panics.
func runIdempotent[T any](ctx context.Context, c kv.Client, swapper kv.Swapper, storeKey, claim []byte, cfg idempotencyConfig, compute func(context.Context) (T, error)) (IdempotentResult[T], error) {
	// The store and release steps run even when ctx has ended, because a
	// claim left behind blocks the key for the processing TTL.
	detached := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), cfg.processingTTL)
	}
	release := func() {
		rctx, cancel := detached()
		defer cancel()
		_, _ = swapper.CompareAndDelete(rctx, storeKey, claim)
	}
	panicking := true
	defer func() {
		if panicking {
			release()
		}
	}()
	body, err := compute(ctx)
	panicking = false
	if err != nil {
		release()
		return IdempotentResult[T]{}, err
	}

	encoded, err := json.Marshal(body)
	if err != nil {
		release()
		return IdempotentResult[T]{}, fmt.Errorf("kv: patterns: idempotent execute: encode body %T as JSON: %w", body, err)
	}
	done, err := json.Marshal(idempotencyRecord{State: stateDone, Fingerprint: cfg.fingerprint, StatusCode: cfg.statusCode, Body: encoded})
	if err != nil {
		release()
		return IdempotentResult[T]{}, fmt.Errorf("kv: patterns: idempotent execute: encode record: %w", err)
	}
	sctx, cancel := detached()
	defer cancel()
	swapped, err := swapper.CompareAndSwap(sctx, storeKey, claim, done, cfg.ttl)
	if err != nil {
		return IdempotentResult[T]{}, fmt.Errorf("kv: patterns: idempotent execute: store result of %q: %w", storeKey, err)
	}
	if !swapped {
		// The claim expired while compute ran. Store the result unless
		// another call has claimed the key since; its result wins then.
		if _, err := c.SetNX(sctx, storeKey, done, cfg.ttl); err != nil {
			return IdempotentResult[T]{}, fmt.Errorf("kv: patterns: idempotent execute: store result of %q: %w", storeKey, err)
		}
	}
	return IdempotentResult[T]{Body: body, StatusCode: cfg.statusCode}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
