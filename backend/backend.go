// Package backend runs workloads on a site's scheduler. Backends submit,
// report status, cancel and stream logs; they know nothing of law, prices or
// keys.
package backend

import (
	"context"
	"io"
)

// Spec is one attempt of one run to start at a site.
type Spec struct {
	RunID   string
	Attempt int
	Command []string
	Env     map[string]string
	// WorkDir is the job's working directory (checkpoints, data) on the site.
	WorkDir      string
	Accelerators int
	Partition    string
	GresType     string
}

// State is a job's lifecycle state as the scheduler reports it.
type State string

// States.
const (
	Pending   State = "pending"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Cancelled State = "cancelled"
	// Lost means the site or node failed under the job.
	Lost State = "lost"
)

// Status is a snapshot of a job.
type Status struct {
	State    State
	ExitCode int
	Reason   string
}

// Backend is a site scheduler. Implementations must be safe for concurrent use.
type Backend interface {
	// Submit starts spec and returns a handle. It is idempotent: submitting
	// the same RunID and Attempt again returns the existing job's handle.
	Submit(ctx context.Context, spec Spec) (handle string, err error)
	// Status reports the job's state.
	Status(ctx context.Context, handle string) (Status, error)
	// Cancel stops the job; cancelling a finished job is not an error.
	Cancel(ctx context.Context, handle string) error
	// Logs returns the job's output so far.
	Logs(ctx context.Context, handle string) (io.ReadCloser, error)
}
