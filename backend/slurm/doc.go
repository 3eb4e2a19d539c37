// Package slurm is the backend that runs jobs on a real Slurm cluster through
// its command-line clients: sbatch --parsable to submit, scontrol show job to
// watch, scancel to cancel, squeue --name to find a job again.
//
// Each job is named meridian-<run>-<attempt>, so a restarted controller finds
// the job it submitted instead of submitting it twice. The batch script writes
// the command's exit code to a file (write, fsync, rename), so the result is
// known even on a cluster without accounting storage after slurmctld has
// forgotten the job. Jobs are submitted with --no-requeue: when a node fails
// the job ends NODE_FAIL and is reported Lost, and Meridian, not Slurm,
// decides where it runs next.
//
// The site's settings (catalog.BackendSpec) give the partition, the GRES type
// of its accelerators, the work directory root, and in Endpoint the path of
// slurm.conf (exported to the clients as SLURM_CONF) when not the default.
package slurm
