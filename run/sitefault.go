package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/minio/minio-go/v7"

	"meridian.dev/meridian/backend"
	"meridian.dev/meridian/dataset"
	"meridian.dev/meridian/seal"
	"meridian.dev/meridian/transfer"
)

// siteFault is what a run's tenant is told of a failure of a site's
// backend or store: what failed, at which site, and the error's class
// (faultClass), never the error's own text. That text is the server's: a
// Slurm submit that failed names the backend's state directory, a local
// backend or store the files it could not write, a scheduler its hosts.
// The run's reason, its timeline and the audit log (whose entries of a
// run its tenant reads) would hand them to the tenant. The whole error
// goes to the server's log, with the run and the site, for the operator.
func (c *Controller) siteFault(r *Run, site, what string, err error) string {
	return fmt.Sprintf("%s (site %s: %s)", what, site, c.loggedClass(r, site, what, err))
}

// loggedClass logs err, a failure of site's backend or store while it
// did what for r, and returns its class (faultClass), for a text the
// run's tenant reads that says the rest itself.
func (c *Controller) loggedClass(r *Run, site, what string, err error) string {
	c.cfg.Logger.Warn("site failure (its error is kept from the run's tenant)",
		"run", r.ID, "tenant", r.Tenant, "site", site, "what", what, "err", err)
	return faultClass(err)
}

// errNoJobToStop is stopAttempt's when the attempt has no job on record
// and its site cannot look one up: Meridian's own words, told as they are.
var errNoJobToStop = errors.New("no job of the attempt is recorded, and its site cannot find one")

// stopError is a stop the site did not confirm (err, the site's) with
// note, Meridian's own words on why the site's answer did not count.
type stopError struct {
	err  error
	note string
}

func (e *stopError) Error() string { return fmt.Sprintf("%v (%s)", e.err, e.note) }
func (e *stopError) Unwrap() error { return e.err }

// stopFault is the text a run's tenant is given of err, stopAttempt's
// error at site: Meridian's own words as they are, the site's by class.
func (c *Controller) stopFault(r *Run, site string, err error) string {
	var be *backendError
	var se *stopError
	switch {
	case errors.Is(err, errNoJobToStop):
		return err.Error()
	case errors.As(err, &be):
		return c.backendReason(r, err)
	case errors.As(err, &se):
		return c.siteFault(r, site, "the site did not confirm the stop", se.err) + " (" + se.note + ")"
	}
	return c.siteFault(r, site, "the site did not confirm the stop", err)
}

// faultClass is a short, fixed name of what kind of failure err is, for a
// tenant: it is made from the error's identity (the sentinels backends,
// stores and the network wrap), never from its text.
func faultClass(err error) string {
	for _, k := range faultClasses {
		if k.is(err) {
			return k.name
		}
	}
	var (
		ne net.Error
		er minio.ErrorResponse
	)
	switch {
	case errors.As(err, &er) && er.StatusCode != 0:
		// The status is the protocol's, not the store's own words.
		return fmt.Sprintf("the store answered HTTP %d", er.StatusCode)
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.As(err, &ne):
		return "not reachable"
	case dataset.Refused(err):
		// A refusal with no class of its own above: a certificate the
		// connection does not trust, an object not plain.
		return "the store's answer was refused"
	}
	return "an error that the server's log records"
}

// faultClasses are the classes faultClass knows, the more specific first
// (dataset.ErrWrongKey wraps dataset.ErrManifestAuth).
var faultClasses = []struct {
	name string
	is   func(error) bool
}{
	{"site down", isErr(backend.ErrSiteDown)},
	{"the attempt's earlier job may have run", isErr(backend.ErrAttemptUnknown)},
	{"job refused as invalid", func(err error) bool { return errors.Is(err, backend.ErrInvalid) || errors.Is(err, syscall.E2BIG) }},
	{"job not found", isErr(backend.ErrNotFound)},
	{"the site's backend cannot serve job output", isErr(backend.ErrLogsUnavailable)},
	{"no backend configured", isErr(backend.ErrNoBackend)},
	{"the dataset's key is not the one it was sealed with", isErr(dataset.ErrWrongKey)},
	{"a manifest did not authenticate", isErr(dataset.ErrManifestAuth)},
	{"a manifest is not the version recorded", isErr(dataset.ErrManifestPin)},
	{"the day changed during the copy", isErr(transfer.ErrDayChanged)},
	{"an object is larger than expected", isErr(dataset.ErrTooLarge)},
	{"the store lists too many objects", isErr(dataset.ErrListTooLong)},
	{"an object is missing from the store", func(err error) bool { return errors.Is(err, dataset.ErrNotFound) || errors.Is(err, os.ErrNotExist) }},
	// Before "timed out": a cancel whose wait ran out (its context's
	// deadline) while the site said at each look the job was ending.
	{"still stopping", isErr(backend.ErrStopping)},
	{"timed out", func(err error) bool {
		return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
			errors.Is(err, dataset.ErrReadDeadline) || errors.Is(err, dataset.ErrReadIdle) || errors.Is(err, transfer.ErrWriteDeadline)
	}},
	{"interrupted", isErr(context.Canceled)},
	{"permission denied", isErr(os.ErrPermission)},
	{"not reachable", func(err error) bool {
		return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EHOSTUNREACH)
	}},
	{"the transfer ledger could not be written or read", isErr(transfer.ErrLedger)},
	{"the site is no longer in the catalog", isErr(errSweepSiteGone)},
	{"a sealed object did not authenticate", isErr(seal.ErrAuth)},
	{"the connection was cut", isErr(io.ErrUnexpectedEOF)},
}

func isErr(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

// logsFault is the note a run's output carries in place of an attempt's
// output at site that could not be read (err): its class, the error
// itself logged, unless it is a backend that serves no output at all
// (backend.ErrLogsUnavailable), which says all there is to say and would
// be logged at each read of the run's output.
func (c *Controller) logsFault(r *Run, site string, err error) string {
	if errors.Is(err, backend.ErrLogsUnavailable) {
		return faultClass(err)
	}
	return c.loggedClass(r, site, "read an attempt's output", err)
}
