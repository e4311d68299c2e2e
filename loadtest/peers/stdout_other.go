//go:build !linux

package main

import "os"

// reportStdout returns os.Stdout: outside Linux, GLIDE's warnings on stdout
// may land in the report.
func reportStdout() *os.File { return os.Stdout }
