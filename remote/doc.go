// Package remote is the Valkey tier of kv: a [kv.Client] on the Valkey GLIDE
// Go client, for a standalone server or a cluster. It also implements
// [kv.Swapper] and [kv.TTLCounter] with Lua scripts, and [kv.Publisher] and
// [kv.Subscriber] with pub/sub. Package tiered puts it behind the in-process
// tier of package local.
//
// This is the only package of kv that imports GLIDE, which needs cgo; a
// program that uses only kv and local builds with CGO_ENABLED=0.
//
//	cfg, err := remote.ParseURL("valkeys://app:secret@cache.internal:6379/0")
//	if err != nil { ... }
//	c, err := remote.New(cfg) // connects now
//	if err != nil { ... }
//	defer c.Close()
//	err = c.Set(ctx, []byte("user:42"), payload, time.Minute)
//
// docs/remote.md in the repository describes the configuration, which
// operations are atomic in each mode, the error mapping and the limits of
// GLIDE that show through.
package remote
