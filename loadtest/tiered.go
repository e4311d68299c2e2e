package main

import (
	"context"
	"errors"
)

func newTieredTarget(ctx context.Context, j job) (*target, error) {
	return nil, errors.New("tiered mode is not available yet")
}
