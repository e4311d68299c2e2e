package main

import (
	"fmt"
	"net/url"
)

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "valkey", "valkeys", "redis", "rediss":
		return nil
	}
	return fmt.Errorf("%q: scheme must be valkey or valkeys", s)
}
