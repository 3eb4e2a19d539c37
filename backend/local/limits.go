package local

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// EnvLimits names the variable of the server's environment that sets a
// new Local's Limits: comma-separated NAME=VALUE pairs (LimitNames), as
// "core=0,nproc=4096,nofile=65536". It replaces DefaultLimits whole, so a
// setting that leaves core out lets the jobs write core dumps again.
const EnvLimits = "MERIDIAN_LOCAL_LIMITS"

// limitResources are the resources a job's limits may name, with the
// smallest value each takes: below it, the job's own wrapper (which
// records its pid and exit code in files, and holds its lock on an open
// file) or the agent could not run, and the job would read as lost
// rather than limited. RLIMIT_CORE may be 0: no core dumps.
var limitResources = map[string]struct {
	res int
	min uint64
}{
	"core":   {unix.RLIMIT_CORE, 0},
	"cpu":    {unix.RLIMIT_CPU, 1},       // seconds of CPU time
	"fsize":  {unix.RLIMIT_FSIZE, 4096},  // bytes of any one file written
	"nofile": {unix.RLIMIT_NOFILE, 64},   // open files
	"nproc":  {unix.RLIMIT_NPROC, 1},     // processes (threads) of the job's user
	"as":     {unix.RLIMIT_AS, 64 << 20}, // bytes of address space
	"data":   {unix.RLIMIT_DATA, 64 << 20},
}

// LimitNames are the resources Limits may name.
func LimitNames() []string {
	names := make([]string, 0, len(limitResources))
	for n := range limitResources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DefaultLimits are a new Local's Limits when EnvLimits is not set: no
// core dumps (a workload's memory, its run's key and data among it, is
// not written to the disk); every other resource keeps the server's own
// limit, as before, since a bound that fits one training workload breaks
// another.
func DefaultLimits() map[string]uint64 { return map[string]uint64{"core": 0} }

// ParseLimits reads limits written as EnvLimits is. An empty string is no
// limit at all.
func ParseLimits(s string) (map[string]uint64, error) {
	out := map[string]uint64{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q: want NAME=VALUE", EnvLimits, kv)
		}
		name = strings.TrimSpace(name)
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s: limit %q given twice", EnvLimits, name)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(val), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: limit %s=%q: not a whole number", EnvLimits, name, val)
		}
		out[name] = n
	}
	if err := checkLimits(out); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvLimits, err)
	}
	return out, nil
}

// limitsFromEnv is EnvLimits's limits when it is set, else DefaultLimits.
func limitsFromEnv() (map[string]uint64, error) {
	s, ok := os.LookupEnv(EnvLimits)
	if !ok {
		return DefaultLimits(), nil
	}
	return ParseLimits(s)
}

// checkLimits refuses a limit on a resource it does not know or below its
// smallest value.
func checkLimits(limits map[string]uint64) error {
	for _, name := range sortedKeys(limits) {
		r, ok := limitResources[name]
		if !ok {
			return fmt.Errorf("limit %q: unknown resource (want one of %s)", name, strings.Join(LimitNames(), ", "))
		}
		if v := limits[name]; v < r.min || v == unix.RLIM_INFINITY {
			return fmt.Errorf("limit %s=%d: want at least %d (and less than unlimited; leave it out for the server's own)", name, v, r.min)
		}
	}
	return nil
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// setLimits sets limits, soft and hard alike, on process pid (the job's
// wrapper, waiting at its gate): what the job starts inherits them and
// cannot raise them. A limit above the server's own hard limit takes the
// privilege to raise it (root's); without it, an error.
func setLimits(pid int, limits map[string]uint64) error {
	if err := checkLimits(limits); err != nil {
		return err
	}
	for _, name := range sortedKeys(limits) {
		v := limits[name]
		lim := unix.Rlimit{Cur: v, Max: v}
		if err := unix.Prlimit(pid, limitResources[name].res, &lim, nil); err != nil {
			return fmt.Errorf("limit %s=%d: %w", name, v, err)
		}
	}
	return nil
}
