package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// ownsSignals is the annotation of a command that handles SIGINT and
// SIGTERM itself (serve keeps their default action until it answers, so
// that a hung start can still be stopped; the agent passes them to its
// workload).
const ownsSignals = "meridian/owns-signals"

// interruptible returns a context that ends on the first SIGINT or SIGTERM,
// so that a command stops the way it stops on an error: a staging releases
// its lease of the site's store and writes the audit anchor, a followed run
// says it stopped following. Without it the signal's default action ended
// the process at once, and none of that ran. A second signal has its
// default action, for a command that does not stop. The function returned
// gives the signals back their default action (for a command that owns
// them).
func interruptible(parent context.Context, errw io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sig := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sig:
			signal.Stop(sig)
			fmt.Fprintf(errw, "%s: stopping (send it again to stop at once)\n", s)
			cancel(fmt.Errorf("interrupted by %s", s))
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sig)
		close(done)
	}
}

// releaseSignals gives SIGINT and SIGTERM back their default action; main
// sets it.
var releaseSignals = func() {}
