package main

import (
	"context"
	"encoding/binary"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// mixedScenario measures coherence across a fleet: writers stamp each value
// with a version and the time the write started, readers in every process
// poll the keys, and the scenario reports how long a new version takes to
// reach readers in other processes and how many reads return a value that
// had been superseded for longer than -stale-bound.
//
// Each key has exactly one writer in the whole fleet (key i belongs to
// process i mod procs), so its versions rise by one per write without any
// coordination. After a write is acknowledged, its writer records the
// acknowledgement time in L2 under an ack key for that version. A read that
// returns version v at start time t0 is stale when version v+1 was
// acknowledged before t0 - bound. Since version v+1 starts after version v's
// stamp, only a read whose value is older than the bound can be stale, and
// only those reads look up the ack key of v+1.
var mixedScenario = &scenario{
	name:               "mixed",
	modes:              []string{modeLocal, modeRemote, modeRaw, modeTiered},
	fleet:              true,
	defaultDuration:    5 * time.Second,
	defaultConcurrency: 16,
	defaultKeys:        16,
	newRun: func(p *process) (scenarioRun, error) {
		if p.target.shared == nil && p.job.Config.Procs > 1 {
			return nil, errors.New("mixed needs a shared Valkey when it runs in more than one process")
		}
		return &mixedRun{p: p}, nil
	},
	summarize: summarizeMixed,
}

// stampSize is the version and write-start time at the head of each value.
const stampSize = 16

type mixedRun struct {
	p       *process
	keys    [][]byte
	writers int
	// seen holds, per key, the highest version a reader of this process has
	// returned; the reader that raises it records the invalidation delay.
	seen []atomic.Uint64
	// clean caches, per key, a version that had no acknowledged successor
	// when a reader last looked it up, and when that was, so that a burst
	// of old reads costs one lookup per key and bound.
	clean []cleanMark
}

type cleanMark struct {
	mu      sync.Mutex // guards version and checked
	version uint64
	checked time.Time
}

func (m *mixedRun) prepare(ctx context.Context) error {
	c := m.p.job.Config
	m.keys = make([][]byte, c.Keys)
	for i := range m.keys {
		m.keys[i] = keyName(m.p.job.Prefix, i)
	}
	m.seen = make([]atomic.Uint64, c.Keys)
	m.clean = make([]cleanMark, c.Keys)
	m.writers = max(1, int(float64(m.p.job.Workers)*(1-c.ReadRatio)+0.5))
	if m.writers >= m.p.job.Workers && m.p.job.Workers > 1 {
		m.writers = m.p.job.Workers - 1
	}
	if m.p.job.Index > 0 && m.p.target.shared != nil {
		return nil
	}
	value := stampValue(make([]byte, c.ValueSize), 0, time.Now())
	return preload(ctx, m.p.target.loader, m.keys, func(int) []byte { return value })
}

func stampValue(b []byte, version uint64, at time.Time) []byte {
	binary.BigEndian.PutUint64(b[0:8], version)
	binary.BigEndian.PutUint64(b[8:16], uint64(at.UnixNano()))
	return b
}

func readStamp(b []byte) (version uint64, at time.Time, ok bool) {
	if len(b) < stampSize {
		return 0, time.Time{}, false
	}
	return binary.BigEndian.Uint64(b[0:8]), time.Unix(0, int64(binary.BigEndian.Uint64(b[8:16]))), true
}

func (m *mixedRun) ackKey(key int, version uint64) []byte {
	return []byte(m.p.job.Prefix + "ack:" + strconv.Itoa(key) + ":" + strconv.FormatUint(version, 10))
}

// owner returns the fleet process that writes key i.
func (m *mixedRun) owner(i int) int { return i % m.p.job.Config.Procs }

func (m *mixedRun) work(w *worker) {
	local := w.id - m.p.job.FirstWorker
	if local < m.writers {
		m.write(w, local)
		return
	}
	m.read(w)
}

// write cycles through the keys this writer owns, writing each with the
// next version, until the period ends.
func (m *mixedRun) write(w *worker, writer int) {
	c := m.p.job.Config
	var mine []int
	for i := range m.keys {
		if m.owner(i) == m.p.job.Index && (i/c.Procs)%m.writers == writer {
			mine = append(mine, i)
		}
	}
	if len(mine) == 0 {
		return
	}
	versions := make([]uint64, len(m.keys))
	value := fillRandom(w, c.ValueSize)
	ack := make([]byte, 8)
	for n := 0; !w.stopped(); n++ {
		i := mine[n%len(mine)]
		versions[i]++
		start := time.Now()
		err := m.p.target.client.Set(w.ctx, m.keys[i], stampValue(value, versions[i], start), keyTTL)
		d := w.done(start, err)
		if err != nil {
			continue
		}
		w.histogram("write").Record(d)
		w.counters["writes"]++
		if m.p.target.shared == nil {
			continue
		}
		binary.BigEndian.PutUint64(ack, uint64(time.Now().UnixNano()))
		if err := m.p.target.shared.Set(w.ctx, m.ackKey(i, versions[i]), ack, time.Minute); err != nil && w.ctx.Err() == nil {
			w.counters["ack_errors"]++
		}
	}
}

func (m *mixedRun) read(w *worker) {
	c := m.p.job.Config
	for !w.stopped() {
		i := w.rng.IntN(len(m.keys))
		start := time.Now()
		value, found, err := m.p.target.client.Get(w.ctx, m.keys[i])
		w.done(start, err)
		if err != nil || !found {
			continue
		}
		end := time.Now()
		version, stamp, ok := readStamp(value)
		if !ok {
			w.counters["bad_values"]++
			continue
		}
		w.counters["reads"]++
		if version > 0 && (c.Procs == 1 || m.owner(i) != m.p.job.Index) {
			m.noteSeen(w, i, version, stamp, end)
		}
		if start.Sub(stamp) > c.StaleBound && m.stale(w, i, version, start) {
			w.counters["stale_reads"]++
		}
		if c.ReadPause > 0 {
			time.Sleep(c.ReadPause)
		}
	}
}

// noteSeen records the invalidation delay of version if this is the first
// read in the process to return it.
func (m *mixedRun) noteSeen(w *worker, i int, version uint64, stamp, end time.Time) {
	for {
		prev := m.seen[i].Load()
		if version <= prev {
			return
		}
		if m.seen[i].CompareAndSwap(prev, version) {
			w.histogram("invalidation").Record(end.Sub(stamp))
			return
		}
	}
}

// stale reports whether version of key i had been superseded by an
// acknowledged write for longer than the bound when the read began at
// start. A version found without a successor at time c cannot be stale
// for reads that start before c + bound, because the successor's
// acknowledgement comes after c.
func (m *mixedRun) stale(w *worker, i int, version uint64, start time.Time) bool {
	bound := m.p.job.Config.StaleBound
	mark := &m.clean[i]
	mark.mu.Lock()
	known := mark.version == version && !start.After(mark.checked.Add(bound))
	mark.mu.Unlock()
	if known || m.p.target.shared == nil {
		return false
	}
	checked := time.Now()
	ack, found, err := m.p.target.shared.Get(w.ctx, m.ackKey(i, version+1))
	w.counters["stale_checks"]++
	if err != nil || (found && len(ack) != 8) {
		w.counters["ack_errors"]++
		return false
	}
	if !found {
		mark.mu.Lock()
		if version >= mark.version {
			mark.version, mark.checked = version, checked
		}
		mark.mu.Unlock()
		return false
	}
	acked := time.Unix(0, int64(binary.BigEndian.Uint64(ack)))
	return acked.Before(start.Add(-bound))
}

func (m *mixedRun) finish(context.Context, *procResult) error { return nil }

func summarizeMixed(j job, m *merged, r *row) {
	summarizeZipf(j, m, r)
	if h := m.histograms["invalidation"]; h != nil && h.Count() > 0 {
		r.InvalidationP50US = ptr(micros(h.Quantile(0.5)))
		r.InvalidationP99US = ptr(micros(h.Quantile(0.99)))
		r.InvalidationMaxUS = ptr(micros(h.Max()))
	}
	// Each process polls every key about once per keys / (reads per second
	// per process), which bounds the resolution of the invalidation delay.
	if reads := m.counters["reads"]; reads > 0 && m.elapsedNS > 0 {
		perProcess := float64(reads) / float64(j.Config.Procs) / (float64(m.elapsedNS) / float64(time.Second))
		r.PollIntervalUS = ptr(float64(j.Config.Keys) / perProcess * 1e6)
	}
	r.StaleReads = ptr(m.counters["stale_reads"])
	r.StaleBoundUS = ptr(micros(j.Config.StaleBound))
	r.Writes = ptr(m.counters["writes"])
	if n := m.counters["ack_errors"] + m.counters["bad_values"]; n > 0 {
		r.Note = joinNote(r.Note, strconv.FormatInt(n, 10)+" bookkeeping errors")
	}
}
