package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"meridian.dev/meridian/internal/textsafe"
)

// hostileOutput is a workload's output that acts on a terminal written as
// it is: it sets the clipboard (OSC 52), the window's title, moves the
// cursor up and clears lines (hiding the lines shown before it), sends a
// CSI as one C1 byte and as UTF-8, and reorders a line with an override.
const hostileOutput = "step=1 loss=2.3\n" +
	"\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\x07" +
	"\x1b]0;root@prod\x1b\\" +
	"\x1b[2A\x1b[2Kall tests passed\n" +
	"\x9b31m raw C1 \xc2\x9b0m\n" +
	"\u202eexe.live\u202c\u2066x\u2069\n" +
	"progress 10%\rprogress 20%\tok \x7f\x08 Zürich 北京 \u2028end\n"

// hostileShown is hostileOutput as a terminal is given it.
const hostileShown = "step=1 loss=2.3\n" +
	`\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\a` +
	`\x1b]0;root@prod\x1b\` +
	`\x1b[2A\x1b[2Kall tests passed` + "\n" +
	`\x9b31m raw C1 \u009b0m` + "\n" +
	`\u202eexe.live\u202c\u2066x\u2069` + "\n" +
	"progress 10%\rprogress 20%\tok " + `\x7f\b` + " Zürich 北京 " + `\u2028` + "end\n"

// termSafe is b written through a termWriter in one write.
func termSafe(b []byte) string {
	var out bytes.Buffer
	t := &termWriter{w: &out}
	t.Write(b)
	t.Flush()
	return out.String()
}

// TestTermWriterEscapes: what acts on a terminal (ESC, the other C0
// controls but \n \t \r, DEL, C1 as a byte or as UTF-8, bidirectional
// formatting, line separators, bytes that are not UTF-8) is written
// visibly; lines, tabs, carriage returns and letters of every script stay.
func TestTermWriterEscapes(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{hostileOutput, hostileShown},
		{"plain\n", "plain\n"},
		{"", ""},
		{"\x00\x1b\x7f", `\x00\x1b\x7f`},
		{"bad \xff\xfe é", `bad \xff\xfe é`},
		{"cut at the end \xe2\x80", `cut at the end \xe2\x80`},
		{"\xe2\x80\n", `\xe2\x80` + "\n"},
		{"written \ufffd", "written \ufffd"},
		{"marks \u200f\u05e9\u200e 1 stay", "marks \u200f\u05e9\u200e 1 stay"},
		// Drawn as nothing, or out of the place a word needs it.
		{"ad\u200bmin\u00ad \ufeff\u2060\u2064", `ad\u200bmin\u00ad \ufeff\u2060\u2064`},
		{"ad\u200dmin ad\u200cmin 1\u200f-2 \u200e", `ad\u200dmin ad\u200cmin 1\u200f-2 \u200e`},
		{"\u3164 \U000e0069", `\u3164 \U000e0069`},
		{"\u0628\u200d\n\u0628 \u05e9\n\u200e", "\u0628" + `\u200d` + "\n\u0628 \u05e9\n" + `\u200e`},
		{"\u0645\u06cc\u200c\u062e \u0915\u094d\u200d\u0937 \U0001f469\U0001f3fd\u200d\U0001f4bb \u2764\ufe0f",
			"\u0645\u06cc\u200c\u062e \u0915\u094d\u200d\u0937 \U0001f469\U0001f3fd\u200d\U0001f4bb \u2764\ufe0f"},
		{"\U0001f600\ufe0f\ufe0f\U000e0100", "\U0001f600\ufe0f" + `\ufe0f\U000e0100`},
	} {
		if got := termSafe([]byte(c.in)); got != c.want {
			t.Errorf("%q written as %q, want %q", c.in, got, c.want)
		}
	}
}

// TestTermWriterSplitWrites: the output arrives in pages and in a
// stream's reads, cut anywhere, also inside a UTF-8 character: a C1
// control or an override cut in two is escaped as one that is not, and
// every cut gives what one write gives.
func TestTermWriterSplitWrites(t *testing.T) {
	for _, in := range []string{hostileOutput, "a\xc2\x9bb", "\u202e", "x\xe2\x81\xa6y", "\xf0\x9f\x98\x80\xf0\x9f", "\xe2\x80",
		"\u0628\u200d\u0628 \u0628\u200d", "ad\u200dmin", "\U0001f600\ufe0f\U000e0100", "\u05e9\u200e\u200f1", "x\u200d\xe2\x80"} {
		want := termSafe([]byte(in))
		for cut := 0; cut <= len(in); cut++ {
			for cut2 := cut; cut2 <= len(in) && cut2 <= cut+4; cut2++ {
				var out bytes.Buffer
				w := &termWriter{w: &out}
				for _, part := range []string{in[:cut], in[cut:cut2], in[cut2:]} {
					if n, err := w.Write([]byte(part)); n != len(part) || err != nil {
						t.Fatalf("Write(%q) = %d, %v", part, n, err)
					}
				}
				w.Flush()
				if out.String() != want {
					t.Fatalf("%q cut at %d and %d written as %q, want %q", in, cut, cut2, out.String(), want)
				}
			}
		}
	}
	var out bytes.Buffer
	w := &termWriter{w: &out}
	w.Write([]byte("a\xc2"))
	w.Write([]byte("\x9bb\xe2\x80"))
	w.Write([]byte("\xae"))
	if got, want := out.String(), `a\u009bb\u202e`; got != want {
		t.Errorf("a C1 and an override cut between writes: %q, want %q", got, want)
	}
}

// termSafeOracle is b as textsafe.Escape writes it, line by line: \n, \t
// and \r kept, each piece between them escaped.
func termSafeOracle(b []byte) string {
	var sb strings.Builder
	start := 0
	for i, c := range b {
		if c == '\n' || c == '\t' || c == '\r' {
			sb.WriteString(textsafe.Escape(string(b[start:i])))
			sb.WriteByte(c)
			start = i + 1
		}
	}
	sb.WriteString(textsafe.Escape(string(b[start:])))
	return sb.String()
}

// FuzzTermWriter: whatever a workload writes and however its output is
// cut, the termWriter never panics, never lets an ESC (or any character
// textsafe finds unsafe but \n \t \r) through, writes UTF-8, gives what
// one write gives and what textsafe.Escape gives line by line.
func FuzzTermWriter(f *testing.F) {
	for _, s := range []string{hostileOutput, "a\xc2\x9bb", "\xe2\x80\xae", "\xf0\x9f\x98", "\x1b[31mred\x1b[0m\r\n",
		"ad\u200bmin\u00ad", "\u0645\u06cc\u200c\u062e\r\u200c", "ad\u200dmin", "\U0001f3f3\ufe0f\u200d\U0001f308\ufe0f\ufe0f",
		"1\u200f-2 \u05e9\u200e1", "\u845b\U000e0100\U000e0101"} {
		f.Add([]byte(s), []byte{1, 2, 3})
	}
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		var out bytes.Buffer
		w := &termWriter{w: &out}
		rest := in
		for _, c := range cuts {
			n := min(int(c)%8, len(rest))
			if n, err := w.Write(rest[:n]); n != min(int(c)%8, len(rest)) || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
			rest = rest[n:]
		}
		w.Write(rest)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		got := out.Bytes()
		if bytes.IndexByte(got, 0x1b) >= 0 {
			t.Fatalf("%q written with a raw ESC: %q", in, got)
		}
		if !utf8.Valid(got) {
			t.Fatalf("%q written as %q, not UTF-8", in, got)
		}
		stripped := strings.NewReplacer("\n", "", "\t", "", "\r", "").Replace(string(got))
		if i := textsafe.Index(stripped); i >= 0 {
			t.Fatalf("%q written as %q, with an unsafe character", in, got)
		}
		if one := termSafe(in); string(got) != one {
			t.Fatalf("%q cut by %v written as %q, in one write %q", in, cuts, got, one)
		}
		if want := termSafeOracle(in); string(got) != want {
			t.Fatalf("%q written as %q, textsafe line by line %q", in, got, want)
		}
	})
}

// pagedLogServer serves run r1, ended, whose output is out, in pages of at
// most page bytes (so that characters and escape sequences are cut between
// writes), its follow stream whole, and the run's event stream ending it.
func pagedLogServer(t *testing.T, out string, page int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/runs":
			w.Write([]byte(`{"id":"r1","tenant":"t","job":"j","state":"pending","site":"local"}`))
		case r.URL.Path == "/v1/runs/r1/logs":
			if r.URL.Query().Get("follow") != "" {
				w.Write([]byte(out))
				return
			}
			off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
			off = min(off, len(out))
			w.Header().Set("X-Log-Size", strconv.Itoa(len(out)))
			w.Write([]byte(out[off:min(off+page, len(out))]))
		default:
			serveEndedRun(w, r, "succeeded")
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestLogsEscapedOnATerminal: `meridian logs` and `run --follow` wrote a
// workload's output to the terminal byte for byte, so the workload could
// set the reader's clipboard, retitle the window and hide lines shown
// before. On a terminal the output is now written visibly escaped, a
// character cut between two pages too; to a file or a pipe (a script's
// reading) and with --raw it is written byte for byte.
func TestLogsEscapedOnATerminal(t *testing.T) {
	t.Setenv("MERIDIAN_CONFIG", t.TempDir()+"/none.yaml")
	utf8Terminal(t)
	job := t.TempDir() + "/job.yaml"
	if err := os.WriteFile(job, []byte("kind: TrainingJob\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	token := strings.Repeat("a", 40)
	oldTerm := stdoutTerminal
	t.Cleanup(func() { stdoutTerminal = oldTerm })
	for _, tc := range []struct {
		name     string
		terminal bool
		raw      bool
		want     string
		escape   bool
	}{
		{"terminal", true, false, hostileShown, false},
		{"pipe", false, false, hostileOutput, false},
		{"terminal --raw", true, true, hostileOutput, false},
		{"pipe --escape", false, false, hostileShown, true},
		{"terminal --escape", true, false, hostileShown, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, verb := range [][]string{{"logs", "r1"}, {"logs", "r1", "-f"}, {"run", "-f", job, "--follow"}} {
				srv := pagedLogServer(t, hostileOutput, 3)
				var out, errOut bytes.Buffer
				stdoutTerminal = func(w io.Writer) bool { return tc.terminal && w == io.Writer(&out) }
				args := append(append([]string(nil), verb...), "--server", srv.URL, "--token", token)
				if tc.raw {
					args = append(args, "--raw")
				}
				if tc.escape {
					args = append(args, "--escape")
				}
				root := newRootCmd()
				root.SetOut(&out)
				root.SetErr(&errOut)
				root.SetArgs(args)
				if err := root.Execute(); err != nil {
					t.Fatalf("%v: %v\n%s", args, err, errOut.String())
				}
				got := out.String()
				if verb[0] == "run" {
					// The run's own line comes first.
					i := strings.IndexByte(got, '\n')
					if !strings.HasPrefix(got, "run r1:") || i < 0 {
						t.Fatalf("%v: no run printed: %q", args, got)
					}
					got = got[i+1:]
				}
				if got != tc.want {
					t.Errorf("%v wrote\n%q\nwant\n%q", args, got, tc.want)
				}
			}
		})
	}
}

// utf8Terminal sets the locale of a terminal that reads UTF-8.
func utf8Terminal(t *testing.T) {
	t.Setenv("LC_ALL", "")
	t.Setenv("LC_CTYPE", "")
	t.Setenv("LANG", "C.UTF-8")
}

// TestEightBitTerminalNoC1Bytes: a terminal that reads bytes, not UTF-8
// (xterm in a Latin-1 or the C locale), takes each byte 0x80 to 0x9F as a
// C1 control, also inside a UTF-8 character: "\u00db2J" is C3 9B 32 4A, Ã
// then CSI 2 J, which clears the screen. Before, such characters went to
// every terminal as they are. In a locale that names no UTF-8 they are
// written escaped; in a UTF-8 one, and to a pipe, they stay.
func TestEightBitTerminalNoC1Bytes(t *testing.T) {
	const in = "\u00db2J \u00d01;2|x\u009c \u201b31m \U0001f600 Z\u00fcrich \u00e9t\u00e9 \u5317\u4eac\n"
	oldTerm := stdoutTerminal
	t.Cleanup(func() { stdoutTerminal = oldTerm })
	write := func() string {
		var out bytes.Buffer
		stdoutTerminal = func(w io.Writer) bool { return w == io.Writer(&out) }
		w, flush := workloadOutput(&out, false, false)
		for i := range len(in) {
			w.Write([]byte(in[i : i+1])) // a character cut at every byte
		}
		flush()
		return out.String()
	}
	for _, env := range [][3]string{{"", "", ""}, {"", "", "C"}, {"", "", "en_US.ISO-8859-1"}, {"C", "", "en_US.UTF-8"}, {"", "POSIX", "C.UTF-8"}} {
		t.Setenv("LC_ALL", env[0])
		t.Setenv("LC_CTYPE", env[1])
		t.Setenv("LANG", env[2])
		got := write()
		for i := 0; i < len(got); i++ {
			if c := got[i]; c >= 0x80 && c <= 0x9f {
				t.Errorf("locale %q: the terminal is sent byte %#x at %d: %q", env, c, i, got)
				break
			}
		}
		if want := `\u00db2J \u00d01;2|x\u009c \u201b31m`; !strings.HasPrefix(got, want) {
			t.Errorf("locale %q: %q, want it to start %q", env, got, want)
		}
		if !strings.Contains(got, "Z\u00fcrich \u00e9t\u00e9") {
			t.Errorf("locale %q: letters without such a byte escaped: %q", env, got)
		}
	}
	for _, env := range [][3]string{{"", "", "C.UTF-8"}, {"", "en_GB.utf8", "C"}, {"de_DE.UTF-8", "", ""}} {
		t.Setenv("LC_ALL", env[0])
		t.Setenv("LC_CTYPE", env[1])
		t.Setenv("LANG", env[2])
		if got, want := write(), strings.Replace(in, "\u009c", `\u009c`, 1); got != want {
			t.Errorf("locale %q (UTF-8): %q, want %q", env, got, want)
		}
	}
}

// screenPart is one of the streams (stdout, stderr) written to one
// terminal, screen.
type screenPart struct{ screen *bytes.Buffer }

func (p *screenPart) Write(b []byte) (int, error) { return p.screen.Write(b) }

// screenRows is b as a terminal shows it: a carriage return goes back to
// the start of the row, and what is written after it draws over what was
// there, leaving the rest of the row as it was.
func screenRows(b string) []string {
	rows := [][]rune{nil}
	col := 0
	for _, r := range b {
		row := &rows[len(rows)-1]
		switch r {
		case '\r':
			col = 0
		case '\n':
			rows = append(rows, nil)
			col = 0
		default:
			if col < len(*row) {
				(*row)[col] = r
			} else {
				*row = append(*row, r)
			}
			col++
		}
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = string(r)
	}
	return out
}

// TestOwnLinesStartARow: the CLI writes no prefix of its own on the
// workload's lines, but its own lines (the run's end, an event of run
// --follow) go to the same terminal. The workload's output left its last
// row open after a carriage return, so Meridian's line was drawn over the
// start of the workload's text, and the rest of that text showed as the
// end of Meridian's line ("run r1 succeeded ... but the data were lost").
// Meridian's lines now start a row of their own.
func TestOwnLinesStartARow(t *testing.T) {
	t.Setenv("MERIDIAN_CONFIG", t.TempDir()+"/none.yaml")
	utf8Terminal(t)
	job := t.TempDir() + "/job.yaml"
	if err := os.WriteFile(job, []byte("kind: TrainingJob\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const workload = "step 1\nprogress 10%\r" + "                         , but the checkpoint was lost\r"
	oldTerm := stdoutTerminal
	t.Cleanup(func() { stdoutTerminal = oldTerm })
	for _, verb := range [][]string{{"logs", "r1", "-f"}, {"run", "-f", job, "--follow"}} {
		srv := pagedLogServer(t, workload, 7)
		var screen bytes.Buffer
		out, errOut := &screenPart{&screen}, &screenPart{&screen}
		stdoutTerminal = func(w io.Writer) bool { return w == io.Writer(out) || w == io.Writer(errOut) }
		root := newRootCmd()
		root.SetOut(out)
		root.SetErr(errOut)
		root.SetArgs(append(append([]string(nil), verb...), "--server", srv.URL, "--token", strings.Repeat("a", 40)))
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v\n%s", verb, err, screen.String())
		}
		rows := screenRows(screen.String())
		found := false
		for _, r := range rows {
			if strings.HasPrefix(r, "run r1 ") && !strings.HasPrefix(r, "run r1:") {
				found = true
				if r != "run r1 succeeded" {
					t.Errorf("%v: the terminal shows %q: Meridian's line ends with the workload's text\n%q", verb, r, rows)
				}
			}
		}
		if !found {
			t.Errorf("%v: no line of the run's end: %q", verb, rows)
		}
		// The workload's rows are as it drew them.
		if !strings.Contains(strings.Join(rows, "\n"), "step 1\n                         , but the checkpoint was lost\n") {
			t.Errorf("%v: the workload's output is not shown as drawn: %q", verb, rows)
		}
	}
	// To a file or a pipe, and with --raw, the output is byte for byte:
	// no newline added.
	srv := pagedLogServer(t, workload, 7)
	var out, errOut bytes.Buffer
	stdoutTerminal = func(w io.Writer) bool { return w == io.Writer(&errOut) }
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"logs", "r1", "-f", "--server", srv.URL, "--token", strings.Repeat("a", 40)})
	if err := root.Execute(); err != nil || out.String() != workload {
		t.Errorf("logs -f to a pipe: %v, %q, want %q", err, out.String(), workload)
	}
}

// TestEscapeWithRawRefused: --raw and --escape ask for opposite things;
// both are refused, naming them, before a run is submitted.
func TestEscapeWithRawRefused(t *testing.T) {
	t.Setenv("MERIDIAN_CONFIG", t.TempDir()+"/none.yaml")
	job := t.TempDir() + "/job.yaml"
	if err := os.WriteFile(job, []byte("kind: TrainingJob\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	asked := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asked++ }))
	t.Cleanup(srv.Close)
	for _, verb := range [][]string{{"logs", "r1"}, {"run", "-f", job, "--follow"}} {
		out, code := runRoot(t, append(append([]string(nil), verb...), "--raw", "--escape", "--server", srv.URL, "--token", strings.Repeat("a", 40))...)
		if code != exitBadInput || !strings.Contains(out, "--raw and --escape") {
			t.Errorf("%v --raw --escape: exit %d\n%s", verb, code, out)
		}
	}
	if asked != 0 {
		t.Errorf("the server was asked %d times", asked)
	}
}
