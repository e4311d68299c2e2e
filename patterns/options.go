package patterns

import "fmt"

// applyOptions applies opts to cfg in order. It rejects a nil option, which
// an unset option variable passes by accident, with an error that names
// the operation and the option's position instead of a nil dereference.
func applyOptions[C any, O ~func(*C)](op string, cfg *C, opts []O) error {
	for i, opt := range opts {
		if opt == nil {
			return fmt.Errorf("kv: patterns: %s: option %d is nil", op, i)
		}
		opt(cfg)
	}
	return nil
}
