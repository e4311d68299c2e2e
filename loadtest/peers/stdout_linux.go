package main

import (
	"os"
	"syscall"
)

// reportStdout returns a file that writes where stdout did, and points file
// descriptor 1 at stderr. GLIDE's Rust core prints its warnings on file
// descriptor 1, and without this they would land in the middle of the
// report.
func reportStdout() *os.File {
	fd, err := syscall.Dup(1)
	if err != nil {
		return os.Stdout
	}
	if err := syscall.Dup3(2, 1, 0); err != nil {
		syscall.Close(fd)
		return os.Stdout
	}
	return os.NewFile(uintptr(fd), "report")
}
