package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// ownsSignals is the annotation of a command that handles SIGINT and
// SIGTERM itself (serve keeps their default action until it answers, so
// that a hung start can still be stopped; the agent passes them to its
// workload).
const ownsSignals = "meridian/owns-signals"

// catchInterrupts is set by main: commands run in this process's tests
// keep the signals' default action.
var catchInterrupts bool

// interruptible gives cmd a context that ends on the first SIGINT or
// SIGTERM, so that the command stops the way it stops on an error: a
// staging releases its lease of the site's store and writes the audit
// anchor, a followed run says it stopped following. Without it the
// signal's default action ended the process at once, and none of that ran.
// A second signal has its default action, for a command that does not
// stop. Commands that own the signals are left alone, and so is a process
// that did not start in main.
func interruptible(cmd *cobra.Command) {
	if !catchInterrupts || cmd.Annotations[ownsSignals] != "" {
		return
	}
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancelCause(parent)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	errw := cmd.ErrOrStderr()
	go func() {
		s := <-sig
		signal.Stop(sig)
		fmt.Fprintf(errw, "%s: stopping (send it again to stop at once)\n", s)
		cancel(fmt.Errorf("interrupted by %s", s))
	}()
	cmd.SetContext(ctx)
}
