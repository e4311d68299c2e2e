package main

// procResult is the measurements of one process for one scenario and mode. A
// fleet process sends it to its parent as JSON, and the parent merges the
// results of all processes before anything is summarised.
type procResult struct {
	// Ops and Errors count the operations the workers completed and failed.
	Ops    uint64 `json:"ops"`
	Errors uint64 `json:"errors"`
	// ElapsedNS is how long the workers ran, in nanoseconds.
	ElapsedNS int64 `json:"elapsed_ns"`
	// FirstError is the message of the first failed operation.
	FirstError string `json:"first_error,omitempty"`
	// Latency holds the latency of every operation.
	Latency histogramWire `json:"latency"`
	// Histograms holds scenario latencies other than the operation's own,
	// such as "invalidation", "compute" and "waiter".
	Histograms map[string]histogramWire `json:"histograms,omitempty"`
	// Counters are summed over processes: "stale_reads", "l1_hits", and in
	// the ratelimit scenario the requests allowed per key and window.
	Counters map[string]int64 `json:"counters,omitempty"`
	// Maxima are merged by taking the largest value per name: the stampede
	// and idempotency scenarios keep, per key, the largest compute count an
	// INCR returned, which is the key's total number of computes.
	Maxima map[string]int64 `json:"maxima,omitempty"`
}

// merged is the sum of every process's procResult, with live histograms.
type merged struct {
	ops, errors uint64
	elapsedNS   int64
	firstError  string
	latency     *Histogram
	histograms  map[string]*Histogram
	counters    map[string]int64
	maxima      map[string]int64
}

func newMerged() *merged {
	return &merged{
		latency:    newHistogram(),
		histograms: map[string]*Histogram{},
		counters:   map[string]int64{},
		maxima:     map[string]int64{},
	}
}

// add merges one process's result. Elapsed time is the longest of the
// processes, since they run at the same time.
func (m *merged) add(r procResult) {
	m.ops += r.Ops
	m.errors += r.Errors
	m.elapsedNS = max(m.elapsedNS, r.ElapsedNS)
	if m.firstError == "" {
		m.firstError = r.FirstError
	}
	m.latency.Merge(histogramFromWire(r.Latency))
	for name, w := range r.Histograms {
		m.histogram(name).Merge(histogramFromWire(w))
	}
	for name, v := range r.Counters {
		m.counters[name] += v
	}
	for name, v := range r.Maxima {
		if old, ok := m.maxima[name]; !ok || v > old {
			m.maxima[name] = v
		}
	}
}

// histogram returns the named histogram, creating it empty if needed.
func (m *merged) histogram(name string) *Histogram {
	h, ok := m.histograms[name]
	if !ok {
		h = newHistogram()
		m.histograms[name] = h
	}
	return h
}
