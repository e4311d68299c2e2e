package guard

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"
)

// tokenSize is the length of a lock owner token. 16 random bytes make a
// collision between two owners practically impossible.
const tokenSize = 16

// run is the protocol for one flight: load, lock, then compute as the owner
// or wait for the owner. ctx is the flight's context, cancelled when no
// caller is left or the Guard closes.
func (g *Guard) run(ctx context.Context, key []byte, ttl time.Duration, compute func(context.Context) ([]byte, error)) ([]byte, bool, error) {
	lockKey := append(append([]byte{}, g.opts.LockPrefix...), key...)
	deadline := time.Now().Add(g.opts.WaitBudget)
	for {
		value, found, err := g.opts.Load(ctx, key)
		if err != nil {
			return nil, false, fmt.Errorf("kv: guard: load: %w", err)
		}
		if found {
			return value, false, nil
		}

		token, err := newToken()
		if err != nil {
			return nil, false, err
		}
		locked, err := g.c.SetNX(ctx, lockKey, token, g.opts.LockTTL)
		if err != nil {
			// The SET NX may have reached the server before it failed here
			// (a cancelled request still runs there). A lock stored that
			// way has no owner and would hold off every waiter for the lock
			// TTL. The token is this flight's own, so the release deletes
			// nothing else.
			g.unlock(ctx, key, lockKey, token)
			return nil, false, fmt.Errorf("kv: guard: take lock: %w", err)
		}
		if locked {
			// An owner stores the value before it releases its lock, so a
			// lock taken after that release finds the value here. Without
			// this second read, a flight whose first read missed just before
			// another owner finished would compute the value again.
			value, found, err := g.opts.Load(ctx, key)
			if err != nil || found {
				g.unlock(ctx, key, lockKey, token)
				return value, false, wrapLoad(err)
			}
			return g.own(ctx, key, lockKey, token, ttl, compute)
		}
		if !time.Now().Before(deadline) {
			// The holder kept the lock past the wait budget, or the lock
			// changed hands too often: compute without it rather than wait
			// without bound.
			return g.computeAndStore(ctx, key, ttl, compute)
		}

		value, found, err = g.wait(ctx, key, lockKey, deadline)
		if err != nil || found {
			return value, false, err
		}
	}
}

// own runs compute as the lock owner, stores the value, releases the lock
// and notifies the waiters. The steps after compute use a context detached
// from the flight, because waiters in other processes depend on them even
// when every caller here has left.
func (g *Guard) own(ctx context.Context, key, lockKey, token []byte, ttl time.Duration, compute func(context.Context) ([]byte, error)) ([]byte, bool, error) {
	value, err := g.runCompute(ctx, compute)

	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.opts.LockTTL)
	defer cancel()
	if err == nil {
		if serr := g.opts.Store(octx, key, value, ttl); serr != nil {
			// The callers here still get the value; the fleet will compute
			// it again, which is the cost of a backend that rejects writes.
			g.logError("store", key, serr)
		}
	}
	g.unlock(octx, key, lockKey, token)
	g.notify(octx, key, token, err)
	if err != nil {
		return nil, false, err
	}
	return value, true, nil
}

// unlock releases the lock if token still owns it. It uses CompareAndDelete,
// not Delete: if compute outlived the lock TTL, another process may hold the
// lock now, and only its owner may release it.
func (g *Guard) unlock(ctx context.Context, key, lockKey, token []byte) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.opts.LockTTL)
	defer cancel()
	if _, err := g.swapper.CompareAndDelete(uctx, lockKey, token); err != nil {
		g.logError("release lock", key, err)
	}
}

// computeAndStore computes without the lock, once the wait budget is spent.
func (g *Guard) computeAndStore(ctx context.Context, key []byte, ttl time.Duration, compute func(context.Context) ([]byte, error)) ([]byte, bool, error) {
	value, err := g.runCompute(ctx, compute)
	if err != nil {
		return nil, false, err
	}
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.opts.LockTTL)
	defer cancel()
	if serr := g.opts.Store(octx, key, value, ttl); serr != nil {
		g.logError("store", key, serr)
	}
	return value, true, nil
}

// wait blocks until a notice, the retry delay, the deadline or the end of
// ctx, then reports the value if it is there now. found=false with a nil
// error means "try the lock again".
func (g *Guard) wait(ctx context.Context, key, lockKey []byte, deadline time.Time) ([]byte, bool, error) {
	// The holder's token distinguishes its failure notice from a stale one.
	holder, held, err := g.c.Get(ctx, lockKey)
	if err != nil {
		return nil, false, fmt.Errorf("kv: guard: read lock: %w", err)
	}
	if !held {
		return nil, false, nil
	}

	w := g.register(ctx, key, holder)
	defer g.unregister(key, w)
	if g.subscribed(w) {
		// The owner may have finished between our SetNX and the register
		// above, and its notice is then lost to w. Any notice sent after
		// register reaches w, so reading the value and the lock once more
		// closes that window.
		value, found, err := g.opts.Load(ctx, key)
		if err != nil || found {
			return value, found, wrapLoad(err)
		}
		current, held, err := g.c.Get(ctx, lockKey)
		if err != nil {
			return nil, false, fmt.Errorf("kv: guard: read lock: %w", err)
		}
		if !held || !bytes.Equal(current, holder) {
			return nil, false, nil
		}
	}

	g.park(w)
	timer := time.NewTimer(min(g.opts.RetryDelay, time.Until(deadline)))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return nil, false, fmt.Errorf("kv: guard: wait: %w", ctx.Err())
	case <-w.wake:
		if msg := g.failure(w); msg != "" {
			return nil, false, fmt.Errorf("%w: %s", ErrHolderFailed, msg)
		}
	case <-timer.C:
	}
	return nil, false, nil
}

func wrapLoad(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("kv: guard: load: %w", err)
}

func newToken() ([]byte, error) {
	token := make([]byte, tokenSize)
	if _, err := rand.Read(token); err != nil {
		return nil, fmt.Errorf("kv: guard: make lock token: %w", err)
	}
	return token, nil
}

// errorText is the text a failure notice carries to other processes.
func errorText(err error) string {
	var p *PanicError
	if errors.As(err, &p) {
		return fmt.Sprintf("compute panicked: %v", p.Value)
	}
	return err.Error()
}
