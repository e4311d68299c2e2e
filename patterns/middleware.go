package patterns

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/derp-kv/kv"
)

// IdempotencyKeyHeader is the request header IdempotencyMiddleware reads.
const IdempotencyKeyHeader = "Idempotency-Key"

// IdempotentReplayedHeader is set to "true" on a response that
// IdempotencyMiddleware replays from an earlier request.
const IdempotentReplayedHeader = "Idempotent-Replayed"

// recordedResponse is the response IdempotencyMiddleware stores for a key.
type recordedResponse struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type,omitempty"`
	Body        []byte `json:"body"`
}

// serverError carries a 5xx response out of compute, so that it reaches the
// client but is not stored: a retry of a failed request runs it again.
type serverError struct{ resp recordedResponse }

func (e *serverError) Error() string {
	return "handler responded with status " + strconv.Itoa(e.resp.Status)
}

// IdempotencyMiddleware returns middleware that makes requests carrying an
// Idempotency-Key header run their handler once per key. The first request
// runs the handler, and its status, content type and body are stored. A
// repeat with the same key gets them replayed, with the header
// Idempotent-Replayed: true. Requests without the header pass through.
//
// The fingerprint of a request is a SHA-256 of its method, request URI and
// body: a repeat with the same key and a different fingerprint gets 422
// Unprocessable Entity. A repeat while the first request still runs gets
// 409 Conflict. A response with a 5xx status is sent but not stored, so a
// retry runs the handler again. When the backend fails, the middleware
// responds with 503 Service Unavailable without running the handler.
//
// The options are those of IdempotentExecute. The middleware sets its own
// fingerprint and never waits, and WithStatusCode has no effect, because
// the stored response carries the handler's status.
// The handler's response is buffered in memory before it is sent.
func IdempotencyMiddleware(c kv.Client, opts ...IdempotencyOption) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := r.Header.Get(IdempotencyKeyHeader)
			if key == "" {
				next.ServeHTTP(w, r)
				return
			}
			fingerprint, err := fingerprintRequest(r)
			if err != nil {
				http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
				return
			}

			var header http.Header
			callOpts := append(append([]IdempotencyOption{}, opts...), WithFingerprint(fingerprint), WithoutWaiting())
			res, err := IdempotentExecute(r.Context(), c, key, func(ctx context.Context) (recordedResponse, error) {
				rec := &responseRecorder{header: make(http.Header), status: http.StatusOK}
				next.ServeHTTP(rec, r.WithContext(ctx))
				header = rec.header
				if err := ctx.Err(); err != nil && !rec.wroteHeader {
					// The handler gave up on a request whose context ended,
					// as handlers do when the client goes away. Its empty
					// 200 is no result: storing it would replay it to the
					// retry. A handler that did write a response finished
					// its work, so that response is stored.
					return recordedResponse{}, fmt.Errorf("kv: patterns: idempotency middleware: handler wrote no response after the request context ended: %w", err)
				}
				resp := recordedResponse{Status: rec.status, ContentType: rec.header.Get("Content-Type"), Body: rec.body.Bytes()}
				if resp.Status >= 500 {
					return resp, &serverError{resp: resp}
				}
				return resp, nil
			}, callOpts...)

			var handlerFailed *serverError
			switch {
			case err == nil && !res.Replay:
				writeResponse(w, header, res.Body)
			case err == nil:
				w.Header().Set(IdempotentReplayedHeader, "true")
				writeResponse(w, nil, res.Body)
			case errors.As(err, &handlerFailed):
				writeResponse(w, header, handlerFailed.resp)
			case errors.Is(err, ErrIdempotencyKeyReused):
				http.Error(w, "Idempotency-Key was already used for a different request", http.StatusUnprocessableEntity)
			case errors.Is(err, ErrIdempotencyInProgress):
				http.Error(w, "a request with this Idempotency-Key is still being processed; retry later", http.StatusConflict)
			default:
				http.Error(w, "idempotency store unavailable", http.StatusServiceUnavailable)
			}
		})
	}
}

// fingerprintRequest hashes the method, request URI and body, and puts the
// body back for the handler.
func fingerprintRequest(r *http.Request) (string, error) {
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(r.Body)
		if err != nil {
			return "", err
		}
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	h := sha256.New()
	io.WriteString(h, r.Method+"\n"+r.URL.RequestURI()+"\n")
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeResponse sends resp; header, when not nil, holds every header the
// handler set, which only a first response has.
func writeResponse(w http.ResponseWriter, header http.Header, resp recordedResponse) {
	for name, values := range header {
		w.Header()[name] = values
	}
	if resp.ContentType != "" {
		w.Header().Set("Content-Type", resp.ContentType)
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

// responseRecorder buffers a handler's response.
type responseRecorder struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (r *responseRecorder) Header() http.Header { return r.header }

func (r *responseRecorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status = status
		r.wroteHeader = true
	}
}

func (r *responseRecorder) Write(p []byte) (int, error) {
	r.wroteHeader = true
	return r.body.Write(p)
}
