package main

import "github.com/derp-kv/kv/remote"

// checkURL validates a -url value the way remote parses it.
func checkURL(s string) error {
	_, err := remote.ParseURL(s)
	return err
}
