package patterns_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/derp-kv/kv"
	"github.com/derp-kv/kv/patterns"
)

type order struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

func TestIdempotentExecuteRunsOnce(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		clients := 2
		if !b.shared {
			clients = 1
		}
		const calls = 50
		ctx := testContext(t)
		key := "order\x00\xff" + uniqueKey(t)
		var runs atomic.Int32
		compute := func(context.Context) (order, error) {
			n := runs.Add(1)
			time.Sleep(50 * time.Millisecond) // the work the other calls wait for
			return order{ID: "o-1", Total: int(n) * 100}, nil
		}

		cs := make([]kv.Client, clients)
		for i := range cs {
			cs[i] = b.connect(t)
		}
		start := make(chan struct{})
		results := make(chan patterns.IdempotentResult[order], calls)
		var wg sync.WaitGroup
		for i := range calls {
			c := cs[i%clients]
			wg.Go(func() {
				<-start
				res, err := patterns.IdempotentExecute(ctx, c, key, compute, patterns.WithStatusCode(http.StatusCreated))
				if assert.NoError(t, err) {
					results <- res
				}
			})
		}
		close(start)
		wg.Wait()
		close(results)

		assert.Equal(t, int32(1), runs.Load(), "compute runs")
		firsts := 0
		count := 0
		for res := range results {
			count++
			assert.Equal(t, order{ID: "o-1", Total: 100}, res.Body)
			assert.Equal(t, http.StatusCreated, res.StatusCode)
			if !res.Replay {
				firsts++
			}
		}
		assert.Equal(t, calls, count, "results")
		assert.Equal(t, 1, firsts, "results with Replay=false")
	})
}

func TestIdempotentExecuteErrorNotStored(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		key := uniqueKey(t)
		declined := errors.New("card declined")

		_, err := patterns.IdempotentExecute(ctx, c, key, func(context.Context) (order, error) {
			return order{}, declined
		})
		require.ErrorIs(t, err, declined)

		res, err := patterns.IdempotentExecute(ctx, c, key, func(context.Context) (order, error) {
			return order{ID: "retried"}, nil
		})
		require.NoError(t, err)
		assert.False(t, res.Replay, "the retry after an error ran compute")
		assert.Equal(t, "retried", res.Body.ID)

		res, err = patterns.IdempotentExecute(ctx, c, key, func(context.Context) (order, error) {
			return order{}, errors.New("compute must not run again")
		})
		require.NoError(t, err)
		assert.True(t, res.Replay)
		assert.Equal(t, "retried", res.Body.ID)
		assert.Equal(t, http.StatusOK, res.StatusCode, "default status")
	})
}

func TestIdempotentExecutePanicReleasesKey(t *testing.T) {
	ctx := testContext(t)
	c := connectLocal(t)
	key := uniqueKey(t)

	assert.PanicsWithValue(t, "compute exploded", func() {
		_, _ = patterns.IdempotentExecute(ctx, c, key, func(context.Context) (order, error) {
			panic("compute exploded")
		})
	})
	res, err := patterns.IdempotentExecute(ctx, c, key, func(context.Context) (order, error) {
		return order{ID: "after panic"}, nil
	}, patterns.WithoutWaiting())
	require.NoError(t, err)
	assert.False(t, res.Replay)
}

func TestIdempotentExecuteFingerprint(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		key := uniqueKey(t)
		compute := func(context.Context) (order, error) { return order{ID: "o"}, nil }

		_, err := patterns.IdempotentExecute(ctx, c, key, compute, patterns.WithFingerprint("sha:aaa"))
		require.NoError(t, err)
		_, err = patterns.IdempotentExecute(ctx, c, key, compute, patterns.WithFingerprint("sha:bbb"))
		require.ErrorIs(t, err, patterns.ErrIdempotencyKeyReused)
		res, err := patterns.IdempotentExecute(ctx, c, key, compute, patterns.WithFingerprint("sha:aaa"))
		require.NoError(t, err)
		assert.True(t, res.Replay)
	})
}

func TestIdempotentExecuteInProgress(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		ctx := testContext(t)
		c := b.connect(t)
		key := uniqueKey(t)
		started := make(chan struct{})
		release := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			_, err := patterns.IdempotentExecute(ctx, c, key, func(context.Context) (order, error) {
				close(started)
				<-release
				return order{ID: "slow"}, nil
			})
			done <- err
		}()
		<-started

		_, err := patterns.IdempotentExecute(ctx, c, key, func(context.Context) (order, error) {
			return order{}, errors.New("compute must not run while another call holds the key")
		}, patterns.WithoutWaiting())
		require.ErrorIs(t, err, patterns.ErrIdempotencyInProgress)
		close(release)
		require.NoError(t, <-done)
	})
}

func TestIdempotentExecuteUnsupportedClient(t *testing.T) {
	_, err := patterns.IdempotentExecute(testContext(t), struct{ kv.Client }{connectLocal(t)}, "k", func(context.Context) (int, error) {
		return 1, nil
	})
	require.ErrorIs(t, err, kv.ErrUnsupported)
}

// handlerFixture is an http.Handler that counts its calls and echoes the
// request body in its response.
type handlerFixture struct {
	calls  atomic.Int32
	status int
	block  chan struct{} // when not nil, the handler waits for it to close
}

func (h *handlerFixture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls.Add(1)
	if h.block != nil {
		<-h.block
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(h.status)
	_, _ = w.Write([]byte(`{"echo":` + string(body) + `}`))
}

func postWithKey(handler http.Handler, key, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
	if key != "" {
		req.Header.Set(patterns.IdempotencyKeyHeader, key)
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	return rec
}

func TestIdempotencyMiddlewareReplays(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		c := b.connect(t)
		fixture := &handlerFixture{status: http.StatusCreated}
		handler := patterns.IdempotencyMiddleware(c)(fixture)
		key := uniqueKey(t)

		first := postWithKey(handler, key, `1`)
		assert.Equal(t, http.StatusCreated, first.Code)
		assert.Equal(t, `{"echo":1}`, first.Body.String())
		assert.Equal(t, "application/json", first.Header().Get("Content-Type"))
		assert.Empty(t, first.Header().Get(patterns.IdempotentReplayedHeader))

		repeat := postWithKey(handler, key, `1`)
		assert.Equal(t, http.StatusCreated, repeat.Code)
		assert.Equal(t, `{"echo":1}`, repeat.Body.String())
		assert.Equal(t, "application/json", repeat.Header().Get("Content-Type"))
		assert.Equal(t, "true", repeat.Header().Get(patterns.IdempotentReplayedHeader))
		assert.Equal(t, int32(1), fixture.calls.Load(), "handler calls")

		reused := postWithKey(handler, key, `2`)
		assert.Equal(t, http.StatusUnprocessableEntity, reused.Code)
		assert.Equal(t, int32(1), fixture.calls.Load(), "handler calls after a reused key")

		postWithKey(handler, "", `1`)
		postWithKey(handler, "", `1`)
		assert.Equal(t, int32(3), fixture.calls.Load(), "requests without a key pass through")
	})
}

func TestIdempotencyMiddlewareConflict(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		c := b.connect(t)
		fixture := &handlerFixture{status: http.StatusOK, block: make(chan struct{})}
		handler := patterns.IdempotencyMiddleware(c)(fixture)
		key := uniqueKey(t)

		first := make(chan *httptest.ResponseRecorder, 1)
		go func() { first <- postWithKey(handler, key, `1`) }()
		require.Eventually(t, func() bool { return fixture.calls.Load() == 1 }, 5*time.Second, time.Millisecond)

		conflict := postWithKey(handler, key, `1`)
		assert.Equal(t, http.StatusConflict, conflict.Code)
		close(fixture.block)
		assert.Equal(t, http.StatusOK, (<-first).Code)
		assert.Equal(t, int32(1), fixture.calls.Load(), "handler calls")
	})
}

func TestIdempotencyMiddlewareServerErrorNotStored(t *testing.T) {
	c := connectLocal(t)
	fixture := &handlerFixture{status: http.StatusInternalServerError}
	handler := patterns.IdempotencyMiddleware(c)(fixture)
	key := uniqueKey(t)

	failed := postWithKey(handler, key, `1`)
	assert.Equal(t, http.StatusInternalServerError, failed.Code)
	assert.Equal(t, `{"echo":1}`, failed.Body.String())

	fixture.status = http.StatusOK
	retried := postWithKey(handler, key, `1`)
	assert.Equal(t, http.StatusOK, retried.Code)
	assert.Empty(t, retried.Header().Get(patterns.IdempotentReplayedHeader))
	assert.Equal(t, int32(2), fixture.calls.Load(), "the retry ran the handler again")
}

// abortingHandler counts its calls and, while abort is set, ends the
// request's context as a client that goes away would. It then writes its
// response only when respondAnyway is set.
type abortingHandler struct {
	calls         atomic.Int32
	abort         atomic.Pointer[context.CancelFunc]
	respondAnyway bool
}

func (h *abortingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls.Add(1)
	if cancel := h.abort.Load(); cancel != nil {
		(*cancel)()
	}
	if r.Context().Err() != nil && !h.respondAnyway {
		return
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"id":"o-1"}`))
}

// postAborted sends one request through handler whose context h ends.
func postAborted(handler http.Handler, h *abortingHandler, key string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.abort.Store(&cancel)
	defer h.abort.Store(nil)
	req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(`1`)).WithContext(ctx)
	req.Header.Set(patterns.IdempotencyKeyHeader, key)
	handler.ServeHTTP(httptest.NewRecorder(), req)
}

func TestIdempotencyMiddlewareAbortedRequestNotStored(t *testing.T) {
	forEach(t, allBackends(), func(t *testing.T, b backend) {
		h := &abortingHandler{}
		handler := patterns.IdempotencyMiddleware(b.connect(t))(h)
		key := uniqueKey(t)

		postAborted(handler, h, key)
		retry := postWithKey(handler, key, `1`)
		assert.Equal(t, int32(2), h.calls.Load(), "the retry must run the handler")
		assert.Equal(t, http.StatusCreated, retry.Code)
		assert.Equal(t, `{"id":"o-1"}`, retry.Body.String())
		assert.Empty(t, retry.Header().Get(patterns.IdempotentReplayedHeader))
	})
}

func TestIdempotencyMiddlewareFinishedAfterAbortStored(t *testing.T) {
	c := connectLocal(t)
	h := &abortingHandler{respondAnyway: true}
	handler := patterns.IdempotencyMiddleware(c)(h)
	key := uniqueKey(t)

	postAborted(handler, h, key)
	retry := postWithKey(handler, key, `1`)
	assert.Equal(t, int32(1), h.calls.Load(), "a handler that responded did its work and must not run again")
	assert.Equal(t, http.StatusCreated, retry.Code)
	assert.Equal(t, `{"id":"o-1"}`, retry.Body.String())
	assert.Equal(t, "true", retry.Header().Get(patterns.IdempotentReplayedHeader))
}
