//go:build !linux

package local

import "time"

var processStart = time.Now()

// threadCPU falls back to wall time where no per-thread CPU clock is
// available, so the CPU figures of BenchmarkGetPaired equal the wall ones.
func threadCPU() time.Duration {
	return time.Since(processStart)
}
