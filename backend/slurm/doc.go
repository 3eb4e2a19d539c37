// Package slurm is the backend that runs jobs on a real Slurm cluster, by
// one of two paths that report the same states:
//
//   - Slurm's commands on this machine (Slurm): sbatch --parsable to submit,
//     squeue -j ID -O with the fields it reads to watch (its state, reason,
//     exit code, nodes, start, end, output path, command and user; not
//     scontrol show job, which prints values the job's owner may set, such
//     as its comment, unquoted among slurmctld's fields), scancel to cancel
//     (then squeue again until slurmctld has ended the job), squeue --me
//     -O JobID,Command to find a job again by its batch script's path (see
//     below). The batch script writes the command's exit code to a file
//     (write, fsync, rename) beside its output, so the result is known even
//     on a cluster without accounting storage after slurmctld has forgotten
//     the job, and Logs reads the output file.
//   - slurmrestd across the network (REST), when the site sets restURL:
//     POST job/submit, GET job/{id}, DELETE job/{id} (then GET job/{id}
//     until slurmctld has ended the job), GET jobs to find a job
//     again (see below), GET nodes to tell that a running job's node is down. Over
//     unix:///path slurmrestd authenticates the connecting user
//     (rest_auth/local); over https the JWT in tokenFile is sent as
//     X-SLURM-USER-TOKEN, with X-SLURM-USER-NAME when user is set. This path
//     never opens a file of the cluster: the jobs' output reaches the server
//     through the site's agent, and Logs fails with
//     backend.ErrLogsUnavailable. Jobs run as the user slurmrestd
//     authenticated (for rest_auth/local, the user slurmrestd runs as), so
//     their work directories must be writable by that user. It speaks
//     openapi/v0.0.38, which Slurm 22.05 serves.
//
// A recorded job id names the attempt's job only while slurmctld's job of
// that id is the one submitted (slurmctld gives an id out again once its
// counter wraps), told by what the job's owner, as whom its workload runs,
// cannot change: on the command path its command is the attempt's batch
// script and its user is this server's (whatever the id's record in the
// state directory, which the cluster's nodes write, says); on the REST path its user and submit time
// are those kept when it was first seen (a later submit time counts if the
// job was requeued), and until they are kept, it was submitted while
// Submit waited or bears the attempt's name and comment. Otherwise the
// attempt's job reads as forgotten, and Cancel leaves the other job alone.
// A handle is the job id, unless the id's record already names another
// attempt of the state directory (the id given out again): the later
// attempt's handle is then ID:KEY, KEY its attempt's, valid while that
// attempt's record gives it, so that the two attempts' handles differ.
//
// Each job is named meridian-<run>-<attempt>. Each path records the job id
// in its state directory (on the controller's machine) and, when a submit
// was interrupted before the id was recorded (or Find is asked for an
// attempt without a record), asks Slurm before submitting again; the
// command path also refuses to submit again when slurmctld knows no such
// job but the attempt's directory shows that one ran (slurmctld forgets a
// finished job after MinJobAge). The REST path cannot see that directory:
// it refuses to submit again whenever an earlier submit's answer was lost
// and slurmrestd lists no job of the attempt, unless that submit made no
// job for certain: the scheduler refused it outright (slurmctld's or
// slurmrestd's own refusal in the answer, not a timeout between them),
// slurmrestd refused its credentials, or nothing of it was sent (no
// connection, a token file that could not be read); both paths then answer
// backend.ErrAttemptUnknown, and the controller gives the attempt up as
// lost at once and makes a new one. The
// command path does not trust the name for that: the job's owner, as whom
// its workload runs, may rename the job at any time, so a lookup by name
// could miss the attempt's job and submit it twice, or take another job
// named like it. It finds the job by its command, the path of the batch
// script (<state>/jobs/<run>-<attempt>/job.sh), which slurmctld fixes at
// submission and does not let even the owner update (the working directory
// and output path the owner may change while the job is pending); a job
// that bears the attempt's name but has another script makes the lookup
// fail rather than answer "not found". slurmrestd lists nothing of a job
// that its owner cannot change, so the REST path searches its job list for
// a job of the attempt's name that is the user's jobs run as (the user
// slurmrestd runs as over its socket; backend.user, else the token's user,
// over https: any user may name a job like the attempt's) and bears the
// comment, working directory and output it was submitted with; a job of
// that user with the name but not the rest makes the lookup fail. A job
// its owner renamed is not found there. Jobs are submitted without
// requeue: when a node fails the job ends NODE_FAIL and is reported Lost,
// and Meridian, not Slurm, decides where it runs next.
//
// Both paths report the site's capacity (Capacity, for the controller's
// run.CapacityReporter): the partition's free GRES of the site's kind on
// nodes that take jobs, plus what this server's running jobs hold there
// (capacity.go says exactly what counts).
//
// The site's settings (catalog.BackendSpec) give the partition, the GRES of
// one accelerator (gres, e.g. gpu:h100, or the older gresType h100), the
// work directory root, and for the command path in Endpoint the path of
// slurm.conf (exported to the clients as SLURM_CONF) when not the default.
// The command path runs Slurm's clients without the variables of its own
// environment through which they take options (SQUEUE_*, SCANCEL_*,
// SLURM_* but SLURM_CONF, ...), each in a process group of its own that
// its timeout kills whole.
package slurm
