package remote

import (
	"context"
	"errors"
	"sync"
	"time"

	glide "github.com/valkey-io/valkey-glide/go/v2"
	"github.com/valkey-io/valkey-glide/go/v2/config"
	"github.com/valkey-io/valkey-glide/go/v2/models"

	"github.com/derp-kv/kv"
)

// subscriber is the part of the GLIDE client API that pubsub uses.
type subscriber interface {
	Subscribe(ctx context.Context, channels []string, timeoutMs int) error
	Unsubscribe(ctx context.Context, channels []string, timeoutMs int) error
	UnsubscribeLazy(ctx context.Context, channels []string) error
	Close()
}

// pubsub runs the subscriptions of a Client on a second GLIDE client,
// created by the first Subscribe, so that pushes never queue behind cache
// requests and a slow handler never holds an in-flight slot.
type pubsub struct {
	// opMu serialises SUBSCRIBE and UNSUBSCRIBE, so that the server's
	// subscriptions follow the handler table: the first handler of a channel
	// subscribes and the last one to leave unsubscribes.
	opMu sync.Mutex

	mu       sync.RWMutex // guards client, closed and handlers
	client   subscriber
	closed   bool
	handlers map[string]map[*subscription]struct{}
}

func (p *pubsub) init() {
	p.handlers = make(map[string]map[*subscription]struct{})
}

// Publish sends message on channel with PUBLISH. In Cluster mode it is the
// classic, cluster-wide PUBLISH, not the sharded SPUBLISH.
func (c *Client) Publish(ctx context.Context, channel string, message []byte) error {
	err := c.do(ctx, true, func(g context.Context) (err error) {
		if c.cluster != nil {
			_, err = c.cluster.Publish(g, channel, str(message), false)
		} else {
			_, err = c.standalone.Publish(g, channel, str(message))
		}
		return err
	})
	if err != nil {
		return glideError("publish", err)
	}
	return nil
}

// Subscribe calls handler with a copy of the payload of every message
// published on channel, until the returned Subscription is closed. It
// returns once the server has confirmed the subscription. The first call
// opens the subscription connection, which Close closes.
//
// GLIDE runs each message's delivery on a goroutine of its own, so
// handlers run concurrently and messages can arrive out of order, even on
// one channel. Subscription.Close waits for handler calls in progress, so
// a handler that wants to end its own subscription must call Close on
// another goroutine. Subscribe panics if handler is nil.
func (c *Client) Subscribe(ctx context.Context, channel string, handler func(message []byte)) (kv.Subscription, error) {
	if handler == nil {
		panic("kv: remote: subscribe: nil handler")
	}
	if c.closed.Load() {
		return nil, opError("subscribe", kv.ErrClosed)
	}
	// As in acquire, a context that has already ended never reaches GLIDE.
	if err := ctx.Err(); err != nil {
		return nil, opError("subscribe", err)
	}
	p := &c.pubsub
	p.opMu.Lock()
	defer p.opMu.Unlock()

	client, err := c.subscriber()
	if err != nil {
		return nil, err
	}
	p.mu.RLock()
	active := len(p.handlers[channel]) > 0
	p.mu.RUnlock()
	if !active {
		// Opening the connection may have used up the context.
		if err := ctx.Err(); err != nil {
			return nil, opError("subscribe", err)
		}
		err := c.doBounded(ctx, func(g context.Context) error {
			return client.Subscribe(g, []string{channel}, c.pubsubTimeoutMs(ctx))
		})
		if err != nil {
			// A blocking subscribe that fails or times out has already
			// recorded the channel as wanted, and GLIDE would keep trying to
			// subscribe in the background.
			_ = client.UnsubscribeLazy(context.Background(), []string{channel})
			return nil, glideError("subscribe", err)
		}
	}

	s := &subscription{client: c, channel: channel, handler: handler}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, opError("subscribe", kv.ErrClosed)
	}
	if p.handlers[channel] == nil {
		p.handlers[channel] = make(map[*subscription]struct{})
	}
	p.handlers[channel][s] = struct{}{}
	return s, nil
}

// subscriber returns the subscription client, creating it on first use.
// The caller holds opMu.
func (c *Client) subscriber() (subscriber, error) {
	p := &c.pubsub
	p.mu.RLock()
	client, closed := p.client, p.closed
	p.mu.RUnlock()
	if closed {
		return nil, opError("subscribe", kv.ErrClosed)
	}
	if client != nil {
		return client, nil
	}

	var err error
	if c.cfg.Mode == Cluster {
		sub := config.NewClusterSubscriptionConfig().WithCallback(p.dispatch, nil)
		var cc *glide.ClusterClient
		cc, err = glide.NewClusterClient(clusterConfig(c.cfg, sub))
		if err == nil {
			client = cc
		}
	} else {
		sub := config.NewStandaloneSubscriptionConfig().WithCallback(p.dispatch, nil)
		var sc *glide.Client
		sc, err = glide.NewClient(standaloneConfig(c.cfg, sub))
		if err == nil {
			client = sc
		}
	}
	if err != nil {
		return nil, connectError(c.cfg, err)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		// Close ran while the connection was being made.
		client.Close()
		return nil, opError("subscribe", kv.ErrClosed)
	}
	p.client = client
	return client, nil
}

// pubsubTimeoutMs is how long SUBSCRIBE and UNSUBSCRIBE wait for the
// server's confirmation: the time to reconnect and send one request, or
// less when ctx ends sooner.
func (c *Client) pubsubTimeoutMs(ctx context.Context) int {
	d := c.cfg.ConnectTimeout + c.cfg.RequestTimeout
	if deadline, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(deadline))
	}
	// 0 would mean "wait forever" to GLIDE.
	return int(max(d.Milliseconds(), 1))
}

// dispatch is the GLIDE message callback. It runs on a new goroutine for
// every message.
func (p *pubsub) dispatch(msg *models.PubSubMessage, _ any) {
	p.mu.RLock()
	subs := make([]*subscription, 0, len(p.handlers[msg.Channel]))
	for s := range p.handlers[msg.Channel] {
		subs = append(subs, s)
	}
	p.mu.RUnlock()
	for _, s := range subs {
		s.deliver(msg.Message)
	}
}

// close closes the subscription client and ends every subscription. It
// waits for handler calls in progress.
func (p *pubsub) close() {
	p.mu.Lock()
	client := p.client
	p.client = nil
	p.closed = true
	var subs []*subscription
	for _, set := range p.handlers {
		for s := range set {
			subs = append(subs, s)
		}
	}
	clear(p.handlers)
	p.mu.Unlock()

	// Closing the GLIDE client fails a SUBSCRIBE or UNSUBSCRIBE still
	// waiting for its confirmation, which releases opMu. It goes before the
	// wait for handlers, so that a slow handler does not delay that.
	if client != nil {
		client.Close()
	}
	for _, s := range subs {
		s.markClosed()
	}
}

// subscription is one handler on one channel.
type subscription struct {
	client  *Client
	channel string
	handler func([]byte)

	// mu is held for reading during each handler call and for writing by
	// markClosed, so that no call starts once markClosed has returned.
	mu     sync.RWMutex
	closed bool // guarded by mu
}

func (s *subscription) deliver(message string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return
	}
	s.handler([]byte(message))
}

// markClosed stops deliveries and reports whether this call closed s.
func (s *subscription) markClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	return true
}

// Close ends the subscription: no handler call starts after it returns, and
// it waits for calls in progress. When s was the last subscription on its
// channel, Close sends UNSUBSCRIBE and returns its error, if any; the
// handler is removed either way. Close is idempotent.
func (s *subscription) Close() error {
	if !s.markClosed() {
		return nil
	}
	p := &s.client.pubsub
	p.opMu.Lock()
	defer p.opMu.Unlock()

	p.mu.Lock()
	set := p.handlers[s.channel]
	delete(set, s)
	last := len(set) == 0
	if last {
		delete(p.handlers, s.channel)
	}
	client := p.client
	p.mu.Unlock()
	if !last || client == nil {
		return nil
	}

	c := s.client
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ConnectTimeout+c.cfg.RequestTimeout)
	defer cancel()
	err := c.doBounded(ctx, func(g context.Context) error {
		return client.Unsubscribe(g, []string{s.channel}, c.pubsubTimeoutMs(ctx))
	})
	var closing *glide.ClosingError
	if err != nil && !errors.As(err, &closing) {
		return glideError("unsubscribe", err)
	}
	return nil
}
