package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
)

// mountExecArg is the first argument with which the node agent runs itself
// as the helper that gives a container its volumes: in a mount namespace of
// its own, each volume directory is bound over its mount path, then the
// helper enters the working directory and becomes the container's command.
// Two pods may so mount different volumes at one path, as on separate
// machines; the host's directories are left as they were.
const mountExecArg = "mount-exec"

// canMount reports whether this process may make mount namespaces.
func canMount() bool { return os.Geteuid() == 0 }

// mountExecArgv is the argv that runs argv in dir with the binds (volume
// directory, mount path).
func mountExecArgv(binds [][2]string, dir string, argv []string) ([]string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	out := []string{self, mountExecArg, dir, fmt.Sprint(len(binds))}
	for _, b := range binds {
		out = append(out, b[0], b[1])
	}
	return append(out, argv...), nil
}

// mountExec is the helper's body: args are dir, the number of binds, the
// binds' (source, target) pairs, then the command. It returns only on
// failure, with the exit code to use (126; 127 when the command is not
// found).
func mountExec(args []string) int {
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "lab node: "+format+"\n", a...)
		return code
	}
	if len(args) < 2 {
		return fail(126, "mount-exec: want DIR N [SRC DST]... CMD...")
	}
	dir := args[0]
	var n int
	if _, err := fmt.Sscan(args[1], &n); err != nil || n < 0 || len(args) < 2+2*n+1 {
		return fail(126, "mount-exec: bad bind count %q", args[1])
	}
	binds, argv := args[2:2+2*n], args[2+2*n:]
	runtime.LockOSThread() // the namespace is this thread's until exec
	if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
		return fail(126, "mount namespace: %v", err)
	}
	// Mounts made here must not reach the host.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fail(126, "mount namespace: make / private: %v", err)
	}
	for i := 0; i < len(binds); i += 2 {
		src, dst := binds[i], binds[i+1]
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fail(126, "mount path %s: %v", dst, err)
		}
		if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
			return fail(126, "bind %s on %s: %v", src, dst, err)
		}
	}
	if err := os.Chdir(dir); err != nil {
		return fail(126, "working directory: %v", err)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fail(127, "cannot start %q: %v", argv[0], err)
	}
	env := os.Environ()
	for i, e := range env {
		if strings.HasPrefix(e, "PWD=") {
			env[i] = "PWD=" + dir
		}
	}
	err = syscall.Exec(path, argv, env)
	return fail(126, "cannot start %q: %v", argv[0], err)
}
