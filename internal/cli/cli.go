// Package cli is what the repository's commands (scripts/eventlake,
// scripts/local, scripts/demo) share: one set of exit statuses and one way
// for main to run a command, stop it on Ctrl-C and report how it ended.
package cli

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

// Exit statuses of every command.
const (
	// ExitOK: done, or help was asked for (-h).
	ExitOK = 0
	// ExitFailure: the command ran and failed.
	ExitFailure = 1
	// ExitUsage: a bad command line; nothing was done.
	ExitUsage = 2
	// ExitInterrupted: stopped by Ctrl-C or SIGTERM (128 + SIGINT), after
	// stopping everything the command had started.
	ExitInterrupted = 130
)

// UsageError is a bad command line (exit status ExitUsage).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usage marks err as a bad command line; nil stays nil.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return UsageError{err}
}

// Usagef is Usage(fmt.Errorf(format, args...)).
func Usagef(format string, args ...any) error { return UsageError{fmt.Errorf(format, args...)} }

// Func is a command: it reads args (without the program name), writes its
// output to stdout and its messages to stderr, and stops when ctx is done.
type Func func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Main runs cmd with the process's arguments and exits with Status. ctx is
// cancelled on SIGINT and SIGTERM.
func Main(name string, cmd Func) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cmd(ctx, os.Args[1:], os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil // before stop, which cancels ctx
	stop()
	os.Exit(Status(name, err, interrupted, os.Stderr))
}

// Status reports how a command ended on stderr, prefixed with its name, and
// returns its exit status: ExitOK for nil and for flag.ErrHelp (the usage
// was printed), ExitUsage for a UsageError, ExitInterrupted when a signal
// stopped it, ExitFailure otherwise.
func Status(name string, err error, interrupted bool, stderr io.Writer) int {
	var usage UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitUsage
	case interrupted:
		fmt.Fprintf(stderr, "\n%s: interrupted: everything started was stopped\n", name)
		return ExitInterrupted
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitFailure
	}
}
