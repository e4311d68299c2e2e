package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// A fleet run re-executes this binary once per process with -fleet-child.
// Parent and child talk in JSON lines: the parent writes the job to the
// child's stdin, the child replies "ready" once prepared, the parent writes
// a start message when every child is ready, and the child then sends
// progress messages and finally its result. The child sends its messages on
// file descriptor 3, not stdout, because GLIDE's Rust core prints warnings
// to stdout. The child's stdout and stderr go to the parent's stderr, so its
// failures and warnings show as they happen.

// fleetMessage is one line from a child to its parent.
type fleetMessage struct {
	Type string `json:"type"` // "ready", "progress", "result" or "error"
	// ElapsedNS, Ops and Errors are set on progress messages.
	ElapsedNS int64       `json:"elapsed_ns,omitempty"`
	Ops       uint64      `json:"ops,omitempty"`
	Errors    uint64      `json:"errors,omitempty"`
	Result    *procResult `json:"result,omitempty"`
	Error     string      `json:"error,omitempty"`
}

// startMessage carries the wall-clock time at which the measured period
// begins in every child.
type startMessage struct {
	StartUnixNano int64 `json:"start_unix_nano"`
}

// fleetStartDelay is how far ahead the parent sets the common start time,
// so that every child has received it before the period begins.
const fleetStartDelay = 50 * time.Millisecond

// fleetTimeout bounds a fleet run beyond its duration, so that a child that
// hangs in prepare or never replies cannot keep the runner waiting forever.
const fleetTimeout = 2 * time.Minute

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	msgs  chan fleetMessage
}

// runFleet runs a job in j.Config.Procs child processes and merges their
// results.
func runFleet(ctx context.Context, j job, stderr io.Writer, progress progressFunc) (*merged, error) {
	ctx, cancel := context.WithTimeout(ctx, j.Config.Duration+fleetTimeout)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to start the fleet: %w", err)
	}
	children, err := startChildren(ctx, exe, j, stderr)
	defer stopChildren(children)
	if err != nil {
		return nil, err
	}

	if err := waitAll(ctx, children, "ready", nil); err != nil {
		return nil, err
	}
	start := startMessage{StartUnixNano: time.Now().Add(fleetStartDelay).UnixNano()}
	for _, c := range children {
		if err := json.NewEncoder(c.stdin).Encode(start); err != nil {
			return nil, fmt.Errorf("start fleet process %d: %w", c.cmd.Process.Pid, err)
		}
	}

	m := newMerged()
	var live fleetProgress
	live.init(len(children))
	err = waitAll(ctx, children, "result", func(i int, msg fleetMessage) {
		switch msg.Type {
		case "progress":
			if progress != nil {
				progress(live.update(i, msg))
			}
		case "result":
			m.add(*msg.Result)
		}
	})
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("the fleet did not finish within %v of its %v run; its processes were killed", fleetTimeout, j.Config.Duration)
	}
	return m, err
}

// startChildren starts one child per process and sends each its job.
func startChildren(ctx context.Context, exe string, j job, stderr io.Writer) ([]*child, error) {
	procs := j.Config.Procs
	children := make([]*child, 0, procs)
	first := 0
	for i := range procs {
		cj := j
		cj.Index = i
		cj.Workers = j.Config.Concurrency / procs
		if i < j.Config.Concurrency%procs {
			cj.Workers++
		}
		cj.FirstWorker = first
		first += cj.Workers

		cmd := exec.CommandContext(ctx, exe, "-fleet-child")
		cmd.Stdout = stderr
		cmd.Stderr = stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return children, fmt.Errorf("start fleet process: %w", err)
		}
		msgsR, msgsW, err := os.Pipe()
		if err != nil {
			return children, fmt.Errorf("start fleet process: %w", err)
		}
		cmd.ExtraFiles = []*os.File{msgsW}
		err = cmd.Start()
		// The child holds its own copy of the write end; closing ours lets
		// the reader see EOF when the child exits.
		msgsW.Close()
		if err != nil {
			msgsR.Close()
			return children, fmt.Errorf("start fleet process: %w", err)
		}
		c := &child{cmd: cmd, stdin: stdin, msgs: make(chan fleetMessage, 16)}
		children = append(children, c)
		go readMessages(msgsR, c.msgs)
		if err := json.NewEncoder(stdin).Encode(cj); err != nil {
			return children, fmt.Errorf("send job to fleet process %d: %w", cmd.Process.Pid, err)
		}
	}
	return children, nil
}

// readMessages decodes a child's messages into msgs and closes msgs and r
// at EOF.
func readMessages(r io.ReadCloser, msgs chan<- fleetMessage) {
	defer close(msgs)
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var msg fleetMessage
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			msg = fleetMessage{Type: "error", Error: fmt.Sprintf("unreadable message %q: %v", truncate(sc.Text(), 200), err)}
		}
		msgs <- msg
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// waitAll waits until every child has sent a message of type want, passing
// every message on to handle. A child's error message, early exit or the
// context ending fails the wait.
func waitAll(ctx context.Context, children []*child, want string, handle func(i int, msg fleetMessage)) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex // guards errs and serialises handle
		errs []error
	)
	for i, c := range children {
		wg.Go(func() {
			err := waitFor(ctx, c, want, func(msg fleetMessage) {
				if handle != nil {
					mu.Lock()
					handle(i, msg)
					mu.Unlock()
				}
			})
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("fleet process %d: %w", i, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func waitFor(ctx context.Context, c *child, want string, handle func(fleetMessage)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case msg, ok := <-c.msgs:
			if !ok {
				return fmt.Errorf("exited before sending %q", want)
			}
			if msg.Type == "error" {
				return errors.New(msg.Error)
			}
			handle(msg)
			if msg.Type == want {
				return nil
			}
		}
	}
}

// stopChildren closes the children's stdin, which ends a child still
// waiting to start, and waits for them. The context of their commands kills
// any that hang.
func stopChildren(children []*child) {
	for _, c := range children {
		c.stdin.Close()
	}
	for _, c := range children {
		_ = c.cmd.Wait()
	}
}

// fleetProgress sums the latest progress of every child.
type fleetProgress struct {
	elapsed []time.Duration
	ops     []uint64
	errs    []uint64
}

func (f *fleetProgress) init(n int) {
	f.elapsed, f.ops, f.errs = make([]time.Duration, n), make([]uint64, n), make([]uint64, n)
}

func (f *fleetProgress) update(i int, msg fleetMessage) (time.Duration, uint64, uint64) {
	f.elapsed[i], f.ops[i], f.errs[i] = time.Duration(msg.ElapsedNS), msg.Ops, msg.Errors
	var elapsed time.Duration
	var ops, errs uint64
	for k := range f.ops {
		elapsed = max(elapsed, f.elapsed[k])
		ops += f.ops[k]
		errs += f.errs[k]
	}
	return elapsed, ops, errs
}

// fleetFD is the file descriptor on which a fleet process sends its
// messages: the first of exec.Cmd.ExtraFiles.
const fleetFD = 3

// runFleetChild is the whole life of a -fleet-child process: read the job,
// prepare, wait for the start message, run, and send the result on out.
func runFleetChild(ctx context.Context, stdin io.Reader, out io.Writer) error {
	in := bufio.NewReader(stdin)
	enc := json.NewEncoder(out)
	var encMu sync.Mutex // guards enc: progress comes from another goroutine
	send := func(msg fleetMessage) error {
		encMu.Lock()
		defer encMu.Unlock()
		return enc.Encode(msg)
	}
	err := childRun(ctx, in, send)
	if err != nil {
		_ = send(fleetMessage{Type: "error", Error: err.Error()})
	}
	return err
}

func childRun(ctx context.Context, in *bufio.Reader, send func(fleetMessage) error) error {
	var j job
	if err := readJSONLine(in, &j); err != nil {
		return fmt.Errorf("read job: %w", err)
	}
	t, err := newTarget(ctx, j)
	if err != nil {
		return fmt.Errorf("open %s client: %w", j.Mode, err)
	}
	defer t.Close()
	p := &process{job: j, target: t}
	start := func() error {
		if err := send(fleetMessage{Type: "ready"}); err != nil {
			return err
		}
		var sm startMessage
		if err := readJSONLine(in, &sm); err != nil {
			return fmt.Errorf("wait for start: %w", err)
		}
		p.start = time.Unix(0, sm.StartUnixNano)
		time.Sleep(time.Until(p.start))
		return nil
	}
	progress := func(elapsed time.Duration, ops, errs uint64) {
		_ = send(fleetMessage{Type: "progress", ElapsedNS: int64(elapsed), Ops: ops, Errors: errs})
	}
	res, err := runProcess(ctx, p, start, progress)
	if err != nil {
		return err
	}
	return send(fleetMessage{Type: "result", Result: &res})
}

func readJSONLine(r *bufio.Reader, v any) error {
	line, err := r.ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return err
	}
	return json.Unmarshal(line, v)
}
