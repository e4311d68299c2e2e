package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, reportStdout(), os.Stderr))
}

// run is the whole program with its inputs and outputs passed in, and
// returns the exit code: 0 when every run succeeded, 1 when one failed or
// was interrupted, 2 for bad flags.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if cfg.FleetChild {
		out := os.NewFile(fleetFD, "fleet-messages")
		if _, err := out.Stat(); err != nil {
			fmt.Fprintln(stderr, "loadtest: -fleet-child is for processes that loadtest starts itself")
			return 2
		}
		defer out.Close()
		if err := runFleetChild(ctx, stdin, out); err != nil {
			fmt.Fprintf(stderr, "loadtest: fleet process: %v\n", err)
			return 1
		}
		return 0
	}

	rows, err := runSuite(ctx, cfg, stderr)
	code := 0
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		code = 1
	}
	if len(rows) > 0 {
		fmt.Fprintln(stdout)
		if werr := writeTable(stdout, rows); werr != nil {
			fmt.Fprintf(stderr, "loadtest: write report: %v\n", werr)
			code = 1
		}
	}
	if cfg.JSONFile != "" {
		if werr := writeJSONFile(cfg.JSONFile, rows); werr != nil {
			fmt.Fprintf(stderr, "loadtest: %v\n", werr)
			code = 1
		}
	}
	for _, r := range rows {
		if r.failed() {
			code = 1
		}
	}
	return code
}
