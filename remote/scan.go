package remote

import (
	"context"
	"iter"
	"strings"

	"github.com/valkey-io/valkey-glide/go/v2/models"
	"github.com/valkey-io/valkey-glide/go/v2/options"
)

// scanCount is the COUNT hint of each SCAN step: how many slots of the
// keyspace the server visits per round trip. 1000 keeps a step well under a
// millisecond of server time while cutting round trips on large keyspaces.
const scanCount = 1000

// Scan yields the keys that start with prefix, using SCAN with MATCH on the
// escaped prefix. In Cluster mode it walks every primary with GLIDE's
// cluster scan. Each key is yielded at most once, even when SCAN returns it
// twice, which it may when the keyspace is rehashed during the scan. Keys
// are remembered until the scan ends, so a scan over n keys holds n keys in
// memory. Keys written during the scan may or may not be yielded.
//
// Each step waits for an in-flight slot like any other request. A failure
// is yielded once, as the last element. Breaking out of the loop early stops
// the scan; in Cluster mode GLIDE's core then keeps the last cursor's state
// until the process exits, because GLIDE v2.5 frees it only when that cursor
// is passed to another scan step.
func (c *Client) Scan(ctx context.Context, prefix []byte, limit int) iter.Seq2[[]byte, error] {
	// Copy the prefix now: the caller may change its slice before ranging.
	pattern := escapeGlob(string(prefix)) + "*"
	return func(yield func([]byte, error) bool) {
		seen := make(map[string]struct{})
		emit := func(keys []string) bool {
			for _, k := range keys {
				if _, dup := seen[k]; dup {
					continue
				}
				seen[k] = struct{}{}
				if !yield([]byte(k), nil) {
					return false
				}
				if limit > 0 && len(seen) >= limit {
					return false
				}
			}
			return true
		}
		var err error
		if c.cluster != nil {
			err = c.scanCluster(ctx, pattern, emit)
		} else {
			err = c.scanStandalone(ctx, pattern, emit)
		}
		if err != nil {
			yield(nil, err)
		}
	}
}

// scanStandalone runs SCAN steps until the cursor returns to 0 or emit
// returns false.
func (c *Client) scanStandalone(ctx context.Context, pattern string, emit func([]string) bool) error {
	opts := *options.NewScanOptions().SetMatch(pattern).SetCount(scanCount)
	cursor := models.NewCursor()
	for {
		var r models.ScanResult
		err := c.do(ctx, true, func(g context.Context) (err error) {
			r, err = c.standalone.ScanWithOptions(g, cursor, opts)
			return err
		})
		if err != nil {
			return glideError("scan", err)
		}
		if !emit(r.Data) || r.Cursor.IsFinished() {
			return nil
		}
		cursor = r.Cursor
	}
}

// scanCluster runs cluster scan steps. A cluster scan cursor is valid for
// one step only, so a failed step cannot be retried with the same cursor.
func (c *Client) scanCluster(ctx context.Context, pattern string, emit func([]string) bool) error {
	opts := *options.NewClusterScanOptions().SetMatch(pattern).SetCount(scanCount)
	cursor := models.NewClusterScanCursor()
	for {
		var r models.ClusterScanResult
		err := c.do(ctx, true, func(g context.Context) (err error) {
			r, err = c.cluster.ScanWithOptions(g, cursor, opts)
			return err
		})
		if err != nil {
			return glideError("scan", err)
		}
		if !emit(r.Keys) || r.Cursor.IsFinished() {
			return nil
		}
		cursor = r.Cursor
	}
}

// escapeGlob puts a backslash before each character that SCAN MATCH treats
// specially (* ? [ ] \), so that the pattern matches prefix literally.
func escapeGlob(prefix string) string {
	if !strings.ContainsAny(prefix, `*?[]\`) {
		return prefix
	}
	var b strings.Builder
	b.Grow(len(prefix) + 8)
	for i := 0; i < len(prefix); i++ {
		switch ch := prefix[i]; ch {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
			b.WriteByte(ch)
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}
