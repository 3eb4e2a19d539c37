package kubernetes

import (
	"context"

	"meridian.dev/meridian/backend"
)

// WriteSecretForTest writes the attempt's Secret as Submit does before it
// creates the Job: what a Submit cut off at that point leaves.
func (b *Backend) WriteSecretForTest(ctx context.Context, spec backend.Spec) error {
	return b.putSecret(ctx, spec, JobName(spec.RunID, spec.Attempt), "")
}

// SubmitUnderWayForTest marks the attempt's Submit as under way in this
// process until the returned function is called.
func (b *Backend) SubmitUnderWayForTest(spec backend.Spec) (done func()) {
	name := JobName(spec.RunID, spec.Attempt)
	b.sweep.begin(name)
	return func() { b.sweep.end(name) }
}
