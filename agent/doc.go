// Package agent is Meridian's site agent: the entrypoint of every attempt at
// every site. The controller never opens a file at a site; the agent does the
// site-side work instead:
//
//	manifest ── GET from the server with the attempt's credential (datasets, keys, checkpoint, command)
//	unseal   ── the job's datasets and the checkpoint to resume from, from the site's store, into scratch
//	run      ── the workload in its sandbox (the tenant's own user, Landlock), output to the site's log and the server
//	push     ── each new checkpoint, read by a helper inside the same sandbox, sealed with the run's key, to the site's store
//	report   ── heartbeats with progress, checkpoints, output and the exit code
//	wipe     ── the scratch (plaintext data, checkpoints) when the workload ends
//
// Keys travel only in the answer to the attempt's own credential and stay in
// the agent's memory; the credential stops working when the attempt ends.
package agent
