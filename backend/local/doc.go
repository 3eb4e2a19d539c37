// Package local is the backend that runs each job as a process group on this
// machine, in a per-site working directory.
//
// A job outlives the controller that started it: it runs in its own session,
// writes its output to a file, and a small shell wrapper records its exit
// code in a file when it ends. Whether a job is still alive is decided by a
// lock that the wrapper holds for its lifetime, so a restarted controller
// reads the same state, with no trust in process ids that may be reused.
//
// Layout under the state directory:
//
//	jobs/<run>-<attempt>/job.json    what was submitted (written before launch)
//	jobs/<run>-<attempt>/pid         the wrapper's pid = process group id
//	jobs/<run>-<attempt>/output.log  stdout and stderr (the agent writes at
//	                                 most OutputLimit of the workload's)
//	jobs/<run>-<attempt>/exitcode    the exit status, once finished
//	jobs/<run>-<attempt>/cancelled   present once Cancel was called
//	jobs/<run>-<attempt>/run.lock    held by the wrapper while it lives
//	jobs/<run>-<attempt>/cmd.lock    held by the job's command while it
//	                                 runs (a killed wrapper's runs on)
//	site-failed                      present while the site is failed
//	unreadable/<run>-<attempt>       when the server first found the job's
//	                                 lock and job.json both unreadable
//	launches/<run>-<attempt>         what the server launched: the working
//	                                 directory, the wrapper's pid and start
//	launches/<run>-<attempt>.end     when the job ended, kept by its wrapper
//	                                 (a copy or restore of the directory
//	                                 keeps it; file times are not trusted)
//	launches/<run>-<attempt>.orphan  once a job's command was seen to run
//	                                 on without its wrapper: the boot's
//	                                 id, then "ended" once it has ended
//	work/<run>/                      default working directory of a run
package local
