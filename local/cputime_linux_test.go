//go:build linux

package local

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time, user and system, that the calling OS
// thread has used. Unlike wall time it leaves out the time other processes
// run on the same core, which on a shared machine swamps the figures.
func threadCPU() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &usage); err != nil {
		panic("getrusage(RUSAGE_THREAD): " + err.Error())
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}
