// Command meridian decides where on Earth an AI training run may and should
// run, and runs it there. This package only wires flags to packages.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Exit codes that scripts rely on (SCHEMA.md).
const (
	exitOK          = 0
	exitError       = 1
	exitBadInput    = 2
	exitNoPlacement = 3
)

// exitError carries a process exit code out of a command.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// badInput marks err as the user's input being wrong (exit 2).
func badInput(err error) error {
	if err == nil {
		return nil
	}
	return &codeError{code: exitBadInput, err: err}
}

func main() {
	catchInterrupts = true
	os.Exit(report(os.Stderr, newRootCmd().Execute()))
}

// report prints err, as text a terminal is safe to be given (a server's
// error message is the server's words), and returns the exit code.
func report(w io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var ce *codeError
	if errors.As(err, &ce) {
		if ce.err != errSilent {
			fmt.Fprintln(w, "error:", shownLines(ce.err.Error()))
		}
		return ce.code
	}
	fmt.Fprintln(w, "error:", shownLines(err.Error()))
	return exitStatus(err)
}

// errSilent is used when a command has already printed what the user needs.
var errSilent = errors.New("")
