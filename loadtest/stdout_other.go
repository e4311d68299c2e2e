//go:build !linux

package main

import "os"

// reportStdout returns os.Stdout: moving GLIDE's warnings off stdout is done
// on Linux only.
func reportStdout() *os.File { return os.Stdout }
