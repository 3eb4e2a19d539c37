package slurm

import (
	"strconv"
	"strings"

	"meridian.dev/meridian/backend"
)

// mapJobState maps what slurmctld says of a job (its state, the reason for
// it, and the exit code and signal of its batch script) to a Status. Both
// the command-line and the REST path use it, so both report the same.
func mapJobState(state, reason string, code, sig int) backend.Status {
	if reason == "None" {
		reason = ""
	}
	with := func(s backend.State, r string) backend.Status {
		return backend.Status{State: s, ExitCode: code, Reason: strings.TrimSpace(strings.ToLower(state) + " " + r)}
	}
	switch state {
	case "PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED", "STOPPED":
		switch reason {
		case "PartitionDown", "PartitionInactive", "NodeDown":
			return backend.Status{State: backend.Lost, Reason: "pending: " + reason}
		case "BadConstraints", "PartitionConfig":
			return backend.Status{State: backend.Failed, Reason: "pending: " + reason}
		}
		return backend.Status{State: backend.Pending, Reason: reason}
	case "RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT", "RESIZING":
		return backend.Status{State: backend.Running, Reason: reason}
	case "COMPLETED":
		return backend.Status{State: backend.Succeeded}
	case "FAILED", "OUT_OF_MEMORY", "DEADLINE", "TIMEOUT":
		if code == 0 && sig != 0 {
			code = 128 + sig
		}
		if code == 0 {
			code = 1
		}
		st := with(backend.Failed, reason)
		st.ExitCode = code
		return st
	case "CANCELLED":
		return with(backend.Cancelled, "")
	case "NODE_FAIL", "BOOT_FAIL", "PREEMPTED":
		return with(backend.Lost, reason)
	}
	return backend.Status{State: backend.Pending, Reason: "unknown Slurm state " + strconv.Quote(state)}
}

// jobStatus maps the fields of `scontrol show job -o` to a Status.
func jobStatus(job map[string]string) backend.Status {
	code, sig := parseExitCode(job["ExitCode"])
	return mapJobState(job["JobState"], job["Reason"], code, sig)
}

// parseExitCode splits Slurm's "code:signal".
func parseExitCode(s string) (code, sig int) {
	a, b, _ := strings.Cut(s, ":")
	code, _ = strconv.Atoi(a)
	sig, _ = strconv.Atoi(b)
	return code, sig
}

// waitStatus splits a wait(2) status, as slurmrestd reports a job's exit
// code, into the exit code and the signal that ended the process.
func waitStatus(ws int64) (code, sig int) {
	if ws < 0 || ws > 0xffff {
		return 0, 0
	}
	return int(ws>>8) & 0xff, int(ws & 0x7f)
}

// gresRequest is the GRES that n accelerators of the site are: site is its
// setting (name[:type], e.g. gpu:h100; "" means gpu), typ a type that
// replaces the site's one when not empty. It is "" for n == 0.
func gresRequest(site, typ string, n int) string {
	if n <= 0 {
		return ""
	}
	if site == "" {
		site = "gpu"
	}
	if typ != "" {
		name, _, _ := strings.Cut(site, ":")
		site = name + ":" + typ
	}
	return site + ":" + strconv.Itoa(n)
}

// siteGres is a site's GRES setting in the name[:type] form.
func siteGres(gres, gresType string) string {
	switch {
	case gres != "":
		return gres
	case gresType != "":
		return "gpu:" + gresType
	}
	return ""
}
