package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"

	glide "github.com/valkey-io/valkey-glide/go/v2"

	"github.com/derp-kv/kv"
)

// opError prefixes err with the package and the operation. It is for errors
// that already carry their meaning (kv sentinels, context errors, argument
// checks).
func opError(op string, err error) error {
	return fmt.Errorf("kv: remote: %s: %w", op, err)
}

// glideError maps an error returned by GLIDE to the kv contract:
//   - *glide.ClosingError (the client was closed, before or during the
//     request) wraps kv.ErrClosed;
//   - *glide.TimeoutError (the request timeout ran out) wraps both the
//     GLIDE error and context.DeadlineExceeded;
//   - context errors, which only come from the caller's own context (see
//     do), stay as they are.
//
// Everything else keeps GLIDE's message, which for a server error is the
// server's own text, because GLIDE v2.5 returns server errors as plain
// strings without a type or code.
func glideError(op string, err error) error {
	var closing *glide.ClosingError
	if errors.As(err, &closing) {
		return fmt.Errorf("kv: remote: %s: %w", op, kv.ErrClosed)
	}
	var timeout *glide.TimeoutError
	if errors.As(err, &timeout) {
		return fmt.Errorf("kv: remote: %s: %w (%w)", op, err, context.DeadlineExceeded)
	}
	return opError(op, err)
}

// isNotInteger reports whether err is the server's reply to INCR on a value
// that is not a decimal int64, or on one that would overflow. GLIDE gives no
// error code, so this matches the text Valkey has sent since Redis 2.
func isNotInteger(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "not an integer or out of range") ||
		strings.Contains(msg, "increment or decrement would overflow")
}

// scrub removes every occurrence of secret from msg.
func scrub(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, redacted)
}
