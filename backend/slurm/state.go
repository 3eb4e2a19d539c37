package slurm

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"meridian.dev/meridian/backend"
)

// mapJobState maps what slurmctld says of a job (its state, the reason for
// it, and the exit code and signal of its batch script) to a Status. Both
// the command-line and the REST path use it, so both report the same.
func mapJobState(state, reason string, code, sig int) backend.Status {
	if reason == "None" {
		reason = ""
	}
	// The site's words, kept with a final status (records.saveFinal),
	// which is read back within a bound: a reason of megabytes made the
	// record unreadable, and a forgotten job read as lost.
	reason = printable([]byte(reason), maxReasonText)
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
	// The site's word again: slurmrestd's job_state is any string, and
	// this reason is reported at every poll.
	if len(state) > maxStateText {
		state = strings.ToValidUTF8(state[:maxStateText], "") + "…"
	}
	return backend.Status{State: backend.Pending, Reason: "unknown Slurm state " + strconv.Quote(state)}
}

// maxStateText bounds what a Status repeats of a job state this backend
// does not know (Slurm's are a word of a few letters).
const maxStateText = 64

// maxReasonText bounds what a Status says of the reason the site gives
// for a job's state (slurmctld's are a word or two).
const maxReasonText = 512

// status maps what squeue says of the job to a Status.
func (j slurmJob) status() backend.Status {
	code, sig := waitStatus(j.ExitStatus)
	return withTimes(mapJobState(j.State, j.Reason, code, sig), j.State, j.Start, j.End)
}

// pendingState reports a Slurm job state in which the job has not (or no
// longer) started: its StartTime is then slurmctld's guess at a future
// start, not a start.
func pendingState(state string) bool {
	switch state {
	case "PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD":
		return true
	}
	return false
}

// withTimes adds to st the start and end slurmctld gives a job in state
// (its Slurm state): the start once the job has left the queue, the end
// only once st is final (before that, EndTime is when the job's time
// limit would end it).
func withTimes(st backend.Status, state string, start, end time.Time) backend.Status {
	if st.State == backend.Pending || pendingState(state) || start.IsZero() {
		return st
	}
	st.Started = start
	if st.State.Final() && !end.IsZero() && !end.Before(start) {
		st.Ended = end
	}
	return st
}

// scontrolTime is how scontrol and squeue write a time with
// SLURM_TIME_FORMAT=standard: in the time zone of the process that runs
// it (TZ; clientEnv sets UTC), without a zone.
const scontrolTime = "2006-01-02T15:04:05"

// parseTime reads a time that squeue printed in UTC (clientEnv): zero
// for "Unknown", "None", "N/A", an empty value or one in any other format.
func parseTime(v string) time.Time {
	t, err := time.ParseInLocation(scontrolTime, strings.TrimSpace(v), time.UTC)
	if err != nil || t.Year() < 1971 {
		return time.Time{}
	}
	return t.UTC()
}

// epochTime reads a time that slurmrestd gives as seconds since 1970: a
// number in openapi/v0.0.38, {"set":…,"infinite":…,"number":…} in later
// versions. Zero (unset) and anything else read as zero.
func epochTime(raw json.RawMessage) time.Time {
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		var v struct {
			Set      bool  `json:"set"`
			Infinite bool  `json:"infinite"`
			Number   int64 `json:"number"`
		}
		if json.Unmarshal(raw, &v) != nil || !v.Set || v.Infinite {
			return time.Time{}
		}
		n = v.Number
	}
	// Before 1971 or past 9999: unset, or not a time.
	if n < 365*24*3600 || n > 253402300799 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
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
