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
	return rusage(syscall.RUSAGE_THREAD)
}

// processCPU returns the CPU time that all threads of the process have
// used, the garbage collector's and ristretto's goroutines included.
func processCPU() time.Duration {
	return rusage(syscall.RUSAGE_SELF)
}

// rusage returns the user and system CPU time that getrusage reports for
// target, RUSAGE_THREAD or RUSAGE_SELF.
func rusage(target int) time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(target, &usage); err != nil {
		panic("getrusage: " + err.Error())
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}
