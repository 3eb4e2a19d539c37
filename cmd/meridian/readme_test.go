package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readmeStep is what one command of the README must do when a newcomer
// types it: its exit status and lines its output must hold. A README
// command with no step here, or a step whose command the README lost, fails
// TestReadme: the two change together.
type readmeStep struct {
	cmd  string
	exit int
	want []string
	// skip says why the walk does not run the command.
	skip string
	// wait: the command runs in the background; the walk waits for want
	// to appear in the shell's output before the next command.
	wait bool
	// limit is how long the command may take (default 2 minutes).
	limit time.Duration
}

var readmeSteps = []readmeStep{
	{cmd: "go run ./cmd/meridian demo", want: []string{"state succeeded", "audit log intact"}, limit: 5 * time.Minute},
	{cmd: "bash scripts/test.sh", skip: "the test suite itself"},
	{cmd: "go run ./cmd/meridian plan -f examples/qwen-offshore.yaml --as-of 2025-06-01", exit: 0, want: []string{"RANK", "Pareto front"}},
	{cmd: "go run ./cmd/meridian plan -f examples/us-health-cn-lab.yaml --as-of 2025-06-01", exit: 3, want: []string{"No lawful, feasible placement", "us-doj-dsp-2025"}},
	{cmd: "go run ./cmd/meridian estimate -f examples/qwen-offshore.yaml --accelerator nvidia-h100-sxm --count 64", want: []string{"80 %"}},
	{cmd: "go run ./cmd/meridian estimate --calibration", want: []string{"published"}, limit: 4 * time.Minute},
	{cmd: "go run ./cmd/meridian rules --as-of 2025-10-15 --rules examples/rules", want: []string{"2025-10-15"}},
	{cmd: "go run ./cmd/meridian rules lint examples/provenance-rules", want: []string{"no problems"}},
	{cmd: "MERIDIAN_HOME=$(mktemp -d) go run ./cmd/meridian screen import screen/testdata/csl-sample.csv", want: []string{"csl-sample.csv"}},
	{cmd: "go run ./cmd/meridian catalog sites --country MY", want: []string{"my-johor-1", "ACCESS"}},
	{cmd: "go run ./cmd/meridian validate -f examples/eu-personal.yaml", want: []string{"ok: 1 organizations, 1 datasets"}},

	// Your first run.
	{cmd: "go install ./cmd/meridian", skip: "the walk puts the binary it built first on PATH"},
	{cmd: "meridian serve --local-country SG &", wait: true, want: []string{"meridian serving on", "runnable site local: 8 × nvidia-h100-sxm", "in SG (set by serve --local-country)"}},
	{cmd: "meridian dataset add demo-text --from examples/trainer/charlm/corpus --origin SG --classification public", want: []string{"dataset demo-text:", "registered"}},
	{cmd: `meridian apply -f "${MERIDIAN_HOME:-$HOME/.meridian}/datasets/demo-text.yaml"`, want: []string{"Dataset  demo-text"}},
	{cmd: "meridian dataset send-key demo-text", want: []string{"key of dataset demo-text stored"}},
	{cmd: "meridian run -f examples/first-run/job.yaml --follow", limit: 4 * time.Minute,
		want: []string{"at local (SG)", "the server's local site", "queued → running", "→ succeeded"}},
	{cmd: "meridian get runs", want: []string{"first-tiny-lm", "succeeded", "AGE"}},
	{cmd: "meridian audit verify", want: []string{"intact"}},
	{cmd: "kill %1"},

	// Data: encrypted, law-gated staging.
	{cmd: "SCRATCH=$(mktemp -d)"},
	{cmd: "meridian dataset add chat-logs --from examples/trainer/charlm/corpus --origin CN --classification personal --subjects 120000 --basis cn-standard-contract",
		want: []string{"dataset chat-logs:"}},
	{cmd: "meridian dataset stage chat-logs --to my-johor-1 -f examples/qwen-offshore.yaml --org example-lab", want: []string{"cn-standard-contract"}},
	{cmd: "meridian dataset stage chat-logs --to my-johor-1 -f examples/qwen-offshore.yaml --org example-lab --dry-run --as-of 2027-01-15", want: []string{"2027-01-15"}},
	{cmd: "meridian dataset ledger chat-logs", want: []string{"my-johor-1", "cn-standard-contract"}},
	{cmd: "meridian dataset verify chat-logs --at my-johor-1", want: []string{"chunks good"}},
	{cmd: `meridian dataset key chat-logs --plain --out "$SCRATCH/key"`},
	{cmd: `meridian dataset unseal chat-logs --at my-johor-1 --key-file "$SCRATCH/key" --to "$SCRATCH/data"`},
}

// readmeCommands returns the commands of the README's ```sh blocks in
// order: comments dropped, continuation lines joined, spaces collapsed.
// Blocks of other kinds (```text, ```console, ```yaml) are read, not run.
func readmeCommands(t *testing.T, path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	in, cont := false, ""
	comment := regexp.MustCompile(`\s+#.*$`)
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case !in && strings.TrimSpace(l) == "```sh":
			in = true
			continue
		case in && strings.HasPrefix(l, "```"):
			in = false
			continue
		case !in:
			continue
		}
		l = comment.ReplaceAllString(l, "")
		if strings.HasSuffix(l, `\`) {
			cont += strings.TrimSuffix(l, `\`) + " "
			continue
		}
		l = strings.Join(strings.Fields(cont+l), " ")
		cont = ""
		if l != "" {
			cmds = append(cmds, l)
		}
	}
	return cmds
}

// TestReadme walks README.md as a newcomer would: every command of its sh
// blocks in order, typed into one bash session (expect-style: a command,
// then a marker that reports its exit status) on a fresh home and state
// directory, from the repository root; `go run ./cmd/meridian` is the
// binary built for the tests. Each command's exit status and key lines
// are checked.
func TestReadme(t *testing.T) {
	if testing.Short() {
		t.Skip("walks the whole README, the demo included")
	}
	cmds := readmeCommands(t, filepath.Join("..", "..", "README.md"))
	if len(cmds) != len(readmeSteps) {
		t.Errorf("README has %d commands, the walk knows %d", len(cmds), len(readmeSteps))
	}
	for i := 0; i < len(cmds) || i < len(readmeSteps); i++ {
		got, want := "(none)", "(none)"
		if i < len(cmds) {
			got = cmds[i]
		}
		if i < len(readmeSteps) {
			want = readmeSteps[i].cmd
		}
		if got != want {
			t.Fatalf("README command %d is %q; the walk expects %q: change README.md and readmeSteps together", i+1, got, want)
		}
	}

	bin := binary(t)
	// A home the tenants' users can pass through when the tests run as
	// root (the server refuses one they cannot).
	home, err := os.MkdirTemp("", "meridian-readme-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	if err := os.Chmod(home, 0o711); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("bash", "--noprofile", "--norc")
	sh.Dir = root
	tmp := filepath.Join(home, "tmp")
	if err := os.Mkdir(tmp, 0o711); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "TMPDIR=" + tmp, "PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH"), "NO_COLOR=1", "TERM=dumb", "COLUMNS=200"}
	for _, k := range []string{"LANG", "GOCACHE", "GOPATH", "GOMODCACHE", "GOFLAGS"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	sh.Env = env
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	sh.Stdout, sh.Stderr = pw, pw
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		syscall.Kill(-sh.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { sh.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-sh.Process.Pid, syscall.SIGKILL)
			<-done
		}
		pw.Close()
	})
	var (
		mu  sync.Mutex
		out bytes.Buffer
		eof bool
	)
	go func() {
		r := bufio.NewReader(pr)
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			if err != nil {
				eof = true
			}
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	// until waits for re in the output after from; it returns the match's
	// submatches and where it ends.
	until := func(from int, re *regexp.Regexp, limit time.Duration) ([]string, int, bool) {
		deadline := time.Now().Add(limit)
		for time.Now().Before(deadline) {
			mu.Lock()
			s := out.String()[from:]
			done := eof
			mu.Unlock()
			if m := re.FindStringSubmatchIndex(s); m != nil {
				sub := make([]string, len(m)/2)
				for i := range sub {
					if m[2*i] >= 0 {
						sub[i] = s[m[2*i]:m[2*i+1]]
					}
				}
				return sub, from + m[1], true
			}
			if done {
				return nil, 0, false
			}
			time.Sleep(20 * time.Millisecond)
		}
		return nil, 0, false
	}
	fmt.Fprintln(stdin, "exec 2>&1")
	pos := 0
	for i, st := range readmeSteps {
		if st.skip != "" {
			t.Logf("README %d: %s: not run (%s)", i+1, st.cmd, st.skip)
			continue
		}
		line := strings.Replace(st.cmd, "go run ./cmd/meridian ", "meridian ", 1)
		marker := fmt.Sprintf("readme-walk-%d", i+1)
		start := time.Now()
		fmt.Fprintf(stdin, "%s\nprintf '\\n%s rc=%%d\\n' $?\n", line, marker)
		limit := st.limit
		if limit == 0 {
			limit = 2 * time.Minute
		}
		sub, end, ok := until(pos, regexp.MustCompile(`\n`+marker+` rc=(\d+)\n`), limit)
		mu.Lock()
		got := out.String()[pos:]
		mu.Unlock()
		if !ok {
			t.Fatalf("README %d: %s: no exit status within %s:\n%s", i+1, st.cmd, limit, got)
		}
		if sub[1] != fmt.Sprint(st.exit) {
			t.Fatalf("README %d: %s: exit %s, want %d:\n%s", i+1, st.cmd, sub[1], st.exit, got)
		}
		if st.wait {
			for _, w := range st.want {
				if _, _, ok := until(pos, regexp.MustCompile(regexp.QuoteMeta(w)), limit); !ok {
					mu.Lock()
					got = out.String()[pos:]
					mu.Unlock()
					t.Fatalf("README %d: %s: no %q within %s:\n%s", i+1, st.cmd, w, limit, got)
				}
			}
			t.Logf("README %d: %s: up after %s", i+1, st.cmd, time.Since(start).Round(time.Millisecond))
			mu.Lock()
			pos = out.Len()
			mu.Unlock()
			continue
		}
		got = got[:end-pos]
		for _, w := range st.want {
			if !strings.Contains(got, w) {
				t.Errorf("README %d: %s: output lacks %q:\n%s", i+1, st.cmd, w, got)
			}
		}
		if strings.Contains(got, "goroutine ") || strings.Contains(got, "panic:") {
			t.Errorf("README %d: %s: a stack trace:\n%s", i+1, st.cmd, got)
		}
		t.Logf("README %d: %s: exit %s in %s", i+1, st.cmd, sub[1], time.Since(start).Round(time.Millisecond))
		pos = end
	}
}
