//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// makeUndumpable makes this process not dumpable: a process of the same
// user without CAP_SYS_PTRACE can then neither trace it nor open its
// /proc/PID/environ, mem or fd entries (the kernel gives them to root),
// and it leaves no core dump holding its keys. The flag is the
// process's, for all its threads; an exec resets it, so the agents and
// helpers serve starts are not affected (the agent sets its own).
func makeUndumpable() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE, 0): %w", err)
	}
	return nil
}

// dumpableFromExec says whether this process was dumpable before it made
// itself undumpable: the kernel starts a process undumpable when its user
// may not read its executable (or the exec changed its credentials), and
// then no process of its user could open its /proc entries or trace it
// even in the moment before the prctl.
func dumpableFromExec() (bool, error) {
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		return false, fmt.Errorf("prctl(PR_GET_DUMPABLE): %w", err)
	}
	return d == 1, nil
}

// tracerOf returns the process tracing one of this process's threads, 0
// if none is. A tracer attached to any thread (a same-user process may
// attach to one thread alone, and /proc/self/status is the first
// thread's) can read and change the whole process, so every thread is
// looked at. Once the process is undumpable no process of its user can
// attach, so a look after the prctl sees every tracer it will have; a
// thread started later is traced only through one traced now.
func tracerOf(proc string) (tracer int, tid string, err error) {
	dir := filepath.Join(proc, "self", "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, "", err
	}
	if len(tasks) == 0 {
		return 0, "", fmt.Errorf("%s lists no thread", dir)
	}
	for _, task := range tasks {
		status, err := os.ReadFile(filepath.Join(dir, task.Name(), "status"))
		if errors.Is(err, os.ErrNotExist) {
			continue // a thread that ended: it traces nothing now
		}
		if err != nil {
			return 0, "", err
		}
		pid, err := statusTracerPid(status)
		if err != nil {
			return 0, "", fmt.Errorf("%s: %w", filepath.Join(dir, task.Name(), "status"), err)
		}
		if pid != 0 {
			return pid, task.Name(), nil
		}
	}
	return 0, "", nil
}

// statusTracerPid reads the TracerPid line of a /proc status file. A
// status without one is an error, not "untraced": what cannot be read is
// not taken as safe.
func statusTracerPid(status []byte) (int, error) {
	for _, line := range bytes.Split(status, []byte("\n")) {
		v, ok := bytes.CutPrefix(line, []byte("TracerPid:"))
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(v)))
		if err != nil || pid < 0 {
			return 0, fmt.Errorf("TracerPid %q: not a process id", v)
		}
		return pid, nil
	}
	return 0, errors.New("no TracerPid line")
}

// checkNotTraced refuses a serve that a process traces: one attached
// before serve made itself undumpable (in the moment after its exec, or
// from its start: a same-user process may restart serve to choose that
// moment) could read its memory, its keys among it, for as long as it
// runs. It names the tracer and its command where /proc shows it.
func checkNotTraced() error {
	tracer, tid, err := tracerOf("/proc")
	if err != nil {
		return fmt.Errorf("serve: cannot tell whether a process traces it (%v), and one could read its memory, its keys among it; refused to start", err)
	}
	if tracer == 0 {
		return nil
	}
	name := ""
	if comm, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(tracer), "comm")); err == nil {
		name = fmt.Sprintf(" (%s)", strings.TrimSpace(string(comm)))
	}
	return fmt.Errorf("serve: process %d%s traces it (thread %s), and could read its memory, its keys among it, for as long as it runs; refused to start (to debug serve, attach as root or with CAP_SYS_PTRACE once it has started: docs/control-plane.md)", tracer, name, tid)
}
