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
//
// # Sandbox mode none
//
// Mode none is for sites whose scheduler isolates each attempt itself (a
// container per attempt, a cgroup the scheduler owns and empties when the
// job ends). The workload then runs as the agent's and its reaper's user,
// and the agent cannot keep it from:
//
//   - killing the agent and the reaper together (their pids are in /proc):
//     nothing of the agent's is left to end what the workload started,
//     and the server hears of it only as the agent's silence, counting
//     the site lost after its silence limit, or as the agent's end by
//     SIGKILL where the site's scheduler reports how it ended. What the
//     workload left runs on until the site's scheduler ends the job's
//     container or cgroup; at a site that has neither, for good (the
//     local backend's Clean then keeps the job's directory and says how
//     many of its processes still run).
//   - stopping or killing the reaper alone, or one of the agent's helpers:
//     the agent notices (a reaper that is stopped, or ends without its
//     report) and ends what is left below it itself.
//   - reading or changing any file of that user, the agent's executable
//     included, and signalling its other processes; the agent is not
//     dumpable, so its memory, environment and descriptors are not among
//     them.
//
// Without privileges the agent has no way around the first: every process
// it could watch from runs as the same user, and a PID namespace of its
// own needs a user namespace, which many sites do not allow. Sites that
// run workloads they do not trust use mode uid or landlock.
//
// # The scratch volume of a Kubernetes pod
//
// Every directory on the scratch's path must be the agent's user's or
// root's and written by no one else (but for the sticky bit), or the
// attempt is refused. A Kubernetes pod's scratch is its emptyDir, mounted
// at the working directory: root's and 0777 without the sticky bit. An
// agent run as root takes the write away; one whose image's user is not
// root, its capabilities dropped, can do neither. The server tells the
// agent of a Kubernetes site that the scratch is the pod's own volume
// (Sandbox.ScratchVolume), and the agent then takes the scratch
// directory as found when it is root's and a mount point; the
// directories above it must still be right, and a scratch that is not a
// mount point is refused as anywhere else.
//
// # A script's $0 in the landlock sandbox
//
// A command that lies outside the scratch (in the system's directories
// or a --ro path) is judged as opened and run through that descriptor
// (/proc/self/fd/5), since another user may put another program at its
// path after the check. A #! script so run sees /proc/self/fd/5 as its
// path ($0, Python's sys.argv[0]), not the path the job named, and one
// that looks for its files next to itself does not find them. This is
// kept so: the kernel hands a #! script's interpreter the path the script
// was executed by, never argv[0], and every interpreter takes $0 from
// that path and opens the script again by it; handing the interpreter the
// original path would have it read whatever that path names by then,
// which is the swap the descriptor is there to prevent, and no common
// interpreter reads a script from a descriptor it is told of while
// showing another name. A command in the scratch, where only the
// workload and the agent's user may change what a path names, runs by
// its path and sees it. A job whose script outside the scratch needs its
// own path names the interpreter as the command and the script as its
// argument (["/bin/sh", "/opt/tools/train.sh"]): the interpreter is
// judged and run by descriptor, and it reads the script by the path
// given, as it reads any file it may read.
package agent
