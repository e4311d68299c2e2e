// Package guard makes a fleet of processes that share one backend compute a
// missing key once rather than once per process: the lock protocol behind patterns.GuardedGet and the
// fleet-wide part of tiered's GetOrCompute, written once.
//
// A [Guard] wraps a kv.Client that implements kv.Swapper. [Guard.Do] first
// collapses the callers of one key inside the process into one flight, then
// runs the protocol for that flight:
//
//  1. Load the value (Options.Load, c.Get by default). A hit ends the flight.
//  2. Take the lock key (lock prefix + key) with SetNX, a lock TTL and a
//     random 16-byte owner token from crypto/rand.
//  3. The owner runs compute detached from every caller's context and
//     stores the value with its ttl (Options.Store, c.Set by default). It
//     releases the lock with CompareAndDelete on its token, so a compute that
//     outlived its lock never deletes the lock of the next holder. Then it
//     publishes a notice.
//  4. Any other process waits: it is woken by the owner's notice when the
//     client is also a kv.Publisher and kv.Subscriber, and polls at the retry
//     delay otherwise (or when a notice is lost). A wake only means "read the
//     value again", so duplicate and out-of-order notices are harmless.
//  5. A waiter that has waited the whole wait budget (lock TTL plus half of
//     it by default) computes the value itself and stores it, so a crashed or
//     stalled owner delays callers by a bounded time rather than forever.
//
// # Failures
//
// When compute returns an error or panics, nothing is stored, the lock is
// released, and every caller in the owner's process gets the error. A panic
// becomes a [*PanicError] carrying the panic value and the stack. It is
// returned, not raised again, because raising it in every waiting goroutine
// would crash the process once per waiter. Waiters in other processes that
// receive the owner's failure notice get an error wrapping [ErrHolderFailed]
// with the owner's error text; a waiter that missed the notice finds the lock
// free on its next poll and computes the value itself.
//
// # Cancellation
//
// Each caller selects on its own context: cancelling it returns that caller
// at once and never cancels the shared work. The flight stops waiting once no
// caller is left, but a compute that has started runs to its end (bounded by
// Options.ComputeTimeout), because other processes wait on its lock.
//
// # Usage
//
//	g, err := guard.New(client, guard.Options{LockTTL: 2 * time.Second})
//	if err != nil { ... }
//	defer g.Close()
//	value, computed, err := g.Do(ctx, key, time.Minute, loadFromDatabase)
package guard
