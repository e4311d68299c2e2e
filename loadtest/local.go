package main

import "errors"

func newLocalTarget(c config) (*target, error) {
	return nil, errors.New("local mode is not available yet")
}
