// Package kubernetes is the backend for sites that are Kubernetes clusters.
//
// Each attempt of a run is one batch/v1 Job with a name derived from the run
// id and attempt (JobName), labelled meridian.dev/run and meridian.dev/attempt,
// so that a restarted controller finds and adopts what it created before.
// An attempt that needs more accelerators than one node offers becomes an
// Indexed Job with one pod per node. With backend.queueName the Job carries
// Kueue's queue label and is created suspended; it is reported Pending
// ("queued") until Kueue admits it. One that ends before the Job
// controller started it (its startTime), or with a pod made before that,
// ended by a pod another made while it waited, which the Job controller
// counts: the attempt is lost (neverStarted).
//
// State comes from client-go informers (list once, then watch) over the
// site's Jobs, their Pods and the Nodes that backend.nodeSelector picks:
// Job conditions and Pod phases map to backend states, and a Pod whose Node
// has not been Ready for NodeLostAfter, that was evicted or that carries a
// DisruptionTarget condition is Lost. Kubernetes itself would only evict
// such a Pod after a 300 s toleration and then leave it Terminating for as
// long as the node stays away, so the backend decides from Node conditions
// itself. While the API server cannot be reached, Status returns an error.
//
// Capacity reports the selected nodes' free GPU resource plus what
// Meridian's own pods hold (capacity.go), for the controller's
// run.CapacityReporter; it lists pods of every namespace on those nodes.
//
// An attempt's secret variables go into a Secret of the Job's name that
// the Job owns, never into the Job. A Submit cut off between writing the
// Secret and creating the Job (or giving it the Secret) leaves one that no
// Job owns; every DefaultSweepEvery the backend gives such a Secret to its
// Job where one exists, and deletes it once it has stayed unchanged with no
// Job for DefaultOrphanGrace (sweep.go). A finished Job stays until someone
// deletes it, so the sweep also deletes the Secret of a Job that has
// finished: nothing needs the credential once its pods have started. The
// user therefore needs list and delete on Secrets, which Check asks for.
//
// The site's API server is not trusted: every answer is read within the
// bounds of limits.go (an object, a list page, a watch event, a pod's log),
// lists are read in pages, and an answer past its bound is refused with
// an error naming it.
//
// Cancel deletes the Job with foreground propagation; Logs reads pods/log.
// The backend's state directory (on the controller's machine, never the
// site's) keeps a small record per Job so that the final state of a Job
// that was deleted (cancelled) is still known. The record is written before
// the Job is created and is what makes a Job of the attempt's name the
// attempt's: its UID once known, until then a random submission value that
// Submit also puts on the Job (attemptsJob). Anyone who may write Jobs in
// the namespace can copy the annotation and labels, so Submit and Find take
// no Job of the name without a matching record, and Status reads the
// attempt of one that does not match lost; every patch and delete of an
// attempt's Job or Secret names its UID. Status, Logs and Cancel of a Job
// without a record answer ErrNotFound. The same writers can change what a
// running Job lets change (its parallelism, completions, retries,
// deadline): an attempt whose Job's parallelism or completions differ from
// what its immutable pod template says it was submitted with is lost, and
// its pods add nothing to Capacity (changedAtSite). Retries and a deadline
// are judged by what they did, since a cluster's admission policy may set
// them on every Job it creates: a Job that runs a failed pod again, or
// fails on its deadline, is lost, not failed (retriedOrTimedOut). A suspended Job's container
// resources can change too: its pods add back no more than the template's
// environment says Submit asked of each (jobAsks). A pod is a Job's when
// the Job controller would count it and made it so (ownedBy: its
// controller reference and controller-uid labels all name the Job's UID);
// anyone who may create pods in the namespace can make one that it counts.
// A pod that claims the Job otherwise, more live pods than the Job runs at
// a time, or two of one completion index, make the attempt lost, and its
// output is not read (extraPods). Who may update Pods can
// relabel a running one: two live pods of an attempt placed a node each
// that share a node (sharedNode), or a live pod relabelled out of the
// watch cache's sight (hiddenPod), make the attempt lost. A pod with every
// mark of the Job's that ends at once can succeed unseen by any poll and
// complete the Job, whose controller then deletes the attempt's own pod:
// a Job completes as the attempt's only if it counted no failed pod and
// no pod of it failed or went away unfinished (completedWithout), a
// queue's suspension aside; a failed Job, only if it ran no more pods than
// its completions, by its own counts and by the pods seen, and a Job of
// one pod only if that pod was not deleted before it ended
// (failedWithout). The marks the
// backend puts on a Job it finds lost or cancels are signed with a key
// kept in the state directory (marks.go): a mark without a valid
// signature is another's, which Status reports beside the attempt's state
// and which neither ends the attempt nor takes its pods out of Capacity.
// A mark's value (a lost attempt's reason) is signed apart: one changed
// since reads "reason not verifiable", the verdict standing.
package kubernetes
