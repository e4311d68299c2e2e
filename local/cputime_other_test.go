//go:build !linux

package local

import "time"

var processStart = time.Now()

// threadCPU falls back to wall time where this file has no CPU clock, so
// the CPU figures of the benchmarks equal the wall ones.
func threadCPU() time.Duration {
	return time.Since(processStart)
}

// processCPU falls back to wall time, as threadCPU does.
func processCPU() time.Duration {
	return time.Since(processStart)
}
