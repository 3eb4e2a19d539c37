package agent

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

const syscallNoFollow = syscall.O_NOFOLLOW

// Main is `meridian agent [reap sandbox-exec …|sandbox-exec …|pack DIR
// NAME]`: with no arguments it runs the attempt the environment names and
// returns the workload's exit code; the subcommands are the agent's own
// helpers. The backend's floor flags (FlagScratchFloor,
// FlagScratchInodeFloor) may come first.
func Main(args []string) int { return MainAs("agent", args) }

// MainAs is Main for an executable that starts the agent with word rather
// than "agent" (a test binary that doubles as the agent): the agent starts
// its helpers the same way.
func MainAs(word string, args []string) int {
	args, floor, err := siteFloorFlags(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "meridian agent:", err)
		return ExitSetup
	}
	if len(args) > 0 {
		switch args[0] {
		case "reap":
			// The reaper's child is this executable's own helper, started
			// as the agent starts its helpers.
			return Reap(append([]string{os.Args[0], word}, args[1:]...), os.Stderr)
		case "sandbox-exec":
			return SandboxExec(args[1:], os.Stderr)
		case "pack":
			return Pack(args[1:], os.Stdout, os.Stderr)
		case "sweep":
			return SweepMain(args[1:], os.Stdout, os.Stderr)
		default:
			fmt.Fprintf(os.Stderr, "meridian agent: unknown subcommand %q\n", args[0])
			return 2
		}
	}
	// The attempt's credential is in this process's environment from its
	// exec on, and the run's and datasets' keys come into its memory.
	// Dumpable, the agent let any process of its user (the workload, in
	// sandbox mode none; another job of the site's user) read
	// /proc/PID/environ and /proc/PID/mem, or trace it. It stops being
	// dumpable before it reads anything.
	if err := undumpable(); err != nil {
		fmt.Fprintln(os.Stderr, "meridian agent:", err)
		return ExitSetup
	}
	cfg, err := FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "meridian agent:", err)
		return ExitSetup
	}
	cfg.SiteScratchFloor, cfg.SiteScratchInodeFloor = floor[0], floor[1]
	if exe, err := os.Executable(); err == nil {
		cfg.Exe = exe
		cfg.SandboxExec = []string{exe, word}
	}
	return RunMain(context.Background(), cfg)
}

// RunMain runs the attempt and turns its error into a message.
func RunMain(ctx context.Context, cfg Config) int {
	code, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "meridian agent:", err)
	}
	return code
}

// undumpable makes this process not dumpable: a process of the same user
// without CAP_SYS_PTRACE can then neither trace it nor open its
// /proc/PID/environ, mem or fds, and it leaves no core dump. The flag is
// the process's, for all its threads; an exec resets it, so the helpers
// the agent starts (the workload's among them) are not affected.
func undumpable() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("cannot make the agent undumpable: %w", err)
	}
	return nil
}
