package agent

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/unicode/norm"
)

// TestProgressOnlyFromWholeLines: a progress line counts only from the
// start of a line. A line longer than the agent's buffer is read in pieces;
// a piece from the middle of one (text the workload printed from its data,
// say) that happens to read "step=… loss=…" is not the workload's progress.
func TestProgressOnlyFromWholeLines(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      int64
	}{
		{"a long line's tail", "step=5 loss=1.5\n" + strings.Repeat("a", 64<<10) + "step=999999 loss=0.01\n", 5},
		{"a long line's tail, the buffer twice over", "step=5 loss=1.5\n" + strings.Repeat("a", 128<<10) + "step=999999 loss=0.01\nmore\n", 5},
		{"after a long line", strings.Repeat("a", 100<<10) + "\nstep=7 loss=1.5\n", 7},
		{"a line cut at the end", "step=5 loss=1.5\n" + strings.Repeat("a", 64<<10) + "step=999999 loss=0.01", 5},
	} {
		a := &attempt{cfg: Config{Stdout: io.Discard}, m: &Manifest{LogLimit: 1 << 30}}
		a.readOutput(strings.NewReader(tc.out))
		if a.progress == nil || a.progress.Step != tc.want {
			t.Errorf("%s: progress %+v; want step %d", tc.name, a.progress, tc.want)
		}
		if got := string(a.logs.pending); got != tc.out {
			t.Errorf("%s: %d bytes kept of %d", tc.name, len(got), len(tc.out))
		}
	}
}

// TestOutputLeftOutIsMarked: output the agent could not hold while the
// server did not take it (past maxPending) is marked where it was left
// out, with its size, so that the server's copy of the log does not read
// as whole across the gap; what comes after is kept. Once over the log's
// limit nothing more is kept, a shorter line included.
func TestOutputLeftOutIsMarked(t *testing.T) {
	var l logShipper
	line := []byte(strings.Repeat("x", 1<<20-1) + "\n")
	for range 10 {
		l.add(line, 1<<30)
	}
	if len(l.pending) != maxPending {
		t.Fatalf("%d bytes pending; want the %d held", len(l.pending), maxPending)
	}
	// The server takes it all.
	l.offset += int64(len(l.pending))
	l.pending = l.pending[:0]
	l.add([]byte("after the gap\n"), 1<<30)
	want := "meridian agent: 2097152 bytes of output left out here (the server did not take them in time); the site's own log has them\nafter the gap\n"
	if string(l.pending) != want {
		t.Errorf("after the gap the agent holds %q; want %q", l.pending, want)
	}
	if l.total != l.offset+int64(len(l.pending)) {
		t.Errorf("total %d, offset %d and %d pending do not add up", l.total, l.offset, len(l.pending))
	}

	// The limit: the note that says the rest was left out is whole within
	// it (the server keeps nothing past the limit), and nothing is kept
	// after it, a shorter line included.
	const limit = 1000
	var m logShipper
	for _, n := range []int{600, 390, 2, 200} {
		m.add([]byte(strings.Repeat("y", n-1)+"\n"), limit)
	}
	if got := string(m.pending); !strings.HasSuffix(got, "y\n"+overLimitNote) || strings.Count(got, "y") != 599 {
		t.Errorf("past the limit the agent holds %d bytes ending %q", len(got), got[max(len(got)-100, 0):])
	}
	if m.total > limit {
		t.Errorf("the agent sends %d bytes; the server keeps %d, cutting the note", m.total, limit)
	}
}

// TestWorkloadCannotWriteAsTheAgent: a line of the workload's output that
// holds the agent's prefix ("meridian agent: checkpoint … reported", say)
// is marked as the workload's in the site's log and in the server's copy,
// with a carriage return or an escape sequence before the prefix written
// out, so that in either log, shown raw or by a terminal, only the
// agent's own lines begin with it. Other lines are kept as written.
func TestWorkloadCannotWriteAsTheAgent(t *testing.T) {
	out := "step=1 loss=2\n" +
		"meridian agent: no answer from the server for 10m0s (the lease is 10m0s): stopping the workload\n" +
		"progress\rmeridian agent: checkpoint step-9 sealed\n" +
		"\x1b[2K\x1b[1Gmeridian agent: output over the server's limit\n" +
		"  meridian agent: indented\n" +
		"\xc2\x9b2Kmeridian agent: C1 escape\n" +
		"tab\tand ünïcode stay\n"
	var site bytes.Buffer
	a := &attempt{cfg: Config{Stdout: &site, Stderr: io.Discard}, m: &Manifest{LogLimit: 1 << 30}}
	a.readOutput(strings.NewReader(out))
	a.logf("the agent's own line")
	for name, log := range map[string]string{"site's log": site.String(), "server's copy": string(a.logs.pending)} {
		// Every line with an escape sequence held the prefix.
		if strings.Contains(log, "\x1b") || strings.Contains(log, "\xc2\x9b") {
			t.Errorf("%s: an escape sequence reaches it:\n%q", name, log)
		}
		var own []string
		for _, line := range strings.FieldsFunc(log, func(r rune) bool { return r == '\n' || r == '\r' }) {
			if strings.HasPrefix(strings.TrimLeft(line, " \t"), agentPrefix) {
				own = append(own, line)
			}
		}
		if len(own) > 1 || name == "server's copy" && (len(own) != 1 || own[0] != "meridian agent: the agent's own line") {
			t.Errorf("%s: lines that read as the agent's: %q", name, own)
		}
		for _, keep := range []string{"step=1 loss=2\n", "tab\tand ünïcode stay\n", "\n(workload) progress\\x0dmeridian agent: checkpoint step-9 sealed\n", "\n(workload)   meridian agent: indented\n"} {
			if !strings.Contains(log, keep) {
				t.Errorf("%s lacks %q:\n%s", name, keep, log)
			}
		}
	}
	if a.progress == nil || a.progress.Step != 1 {
		t.Errorf("progress %+v; want step 1", a.progress)
	}
}

// TestWorkloadCannotDrawTheAgentsPrefix: a line of the workload's output
// that does not hold the agent's prefix in its bytes, but reads as holding
// it once a terminal (or the console) has drawn it (an escape sequence
// dropped, a carriage return or backspace drawn over the line, a tab
// passing over a cell, an invisible character, a bidirectional override,
// the prefix cut between two pieces of a long line), is marked as the
// workload's, its control, bidirectional and invisible characters
// written out. So is a line with an
// escape sequence that can change a line already shown (a cursor up and a
// deletion would take the mark off the line before). Ordinary output,
// colours and progress bars included, is kept as written.
func TestWorkloadCannotDrawTheAgentsPrefix(t *testing.T) {
	pad := func(n int) string { return strings.Repeat("a", n) }
	for _, tc := range []struct {
		name, out string
		want      string // the output as the logs get it
	}{
		{"a dropped colour", "meridian\x1b[0m agent: sealed\n", "(workload) meridian\\x1b[0m agent: sealed\n"},
		{"drawn over", "Xeridian agent: sealed\rm\n", "(workload) Xeridian agent: sealed\\x0dm\n"},
		{"a concealed cell", "meridian\x1b[8mX\x1b[28magent: sealed\n", "(workload) meridian\\x1b[8mX\\x1b[28magent: sealed\n"},
		{"a bell not shown", "meridian \aagent: sealed\n", "(workload) meridian \\x07agent: sealed\n"},
		{"a backspace", "meridiaX\bn agent: sealed\n", "(workload) meridiaX\\x08n agent: sealed\n"},
		{"a tab", "1234567meridian\tagent: sealed\n", "(workload) 1234567meridian\\x09agent: sealed\n"},
		{"a zero-width space", "meridian\u200b agent: sealed\n", "(workload) meridian\\u200b agent: sealed\n"},
		{"reversed", "\u202e:tnega naidirem\n", "(workload) \\u202e:tnega naidirem\n"},
		{"cut between pieces", pad(64<<10-11) + "meridian agent: sealed\n", pad(64<<10-11) + "meridian ag(workload) ent: sealed\n"},
		{"drawn over a piece before", pad(64<<10-17) + "Xeridian agent: x" + "\rm\n", pad(64<<10-17) + "Xeridian agent: x" + "(workload) \\x0dm\n"},
		{"the line before edited", "meridian agent: sealed\n\x1b[A\x1b[11P\n", "(workload) meridian agent: sealed\n(workload) \\x1b[A\\x1b[11P\n"},
		{"erased in the row", "meridianX\x1b[D\x1b[Xagent: sealed\n", "(workload) meridianX\\x1b[D\\x1b[Xagent: sealed\n"},
		{"a cursor up and a clear", "ok\x1b[1A\x1b[J\n", "(workload) ok\\x1b[1A\\x1b[J\n"},
		{"a clipboard set", "\x1b]52;c;bWVyaWRpYW4=\x07x\n", "(workload) \\x1b]52;c;bWVyaWRpYW4=\\x07x\n"},
		{"a link not ended", "\x1b]8;;https://example.com/\n", "(workload) \\x1b]8;;https://example.com/\n"},
		{"a reverse index", "\x1bMx\n", "(workload) \\x1bMx\n"},
		{"a C1 reverse line feed", "\xc2\x8dx\n", "(workload) \\xc2\\x8dx\n"},
		{"a C1 control cut between pieces", pad(64<<10-1) + "\xc2" + "\x9bA\n", "(workload) " + pad(64<<10-1) + "\\xc2" + "\x9bA\n"},
		{"an escape cut short", "x\x1b[", "(workload) x\\x1b["},
		{"a progress bar", "\r 45%|████▌     | 45/100 [00:01<00:02, 27.31it/s]\r 46%|████▌     | 46/100\n", ""},
		{"a progress bar erasing its row", "\r\x1b[2K\x1b[?25lDownloading model.safetensors: 45% [eta 00:02]\x1b[?25h\n", ""},
		{"a link and a title", "\x1b]8;;https://example.com/\x07docs\x1b]8;;\x1b\\ \x1b]0;training\x07\n", ""},
		{"colours", "\x1b[1;32mok\x1b[0m validation: loss 2.5, perplexity 12\n", ""},
		{"a coloured log line", "\x1b[32mINFO\x1b[0m trainer: loaded dataset wiki-en in 12s, model gpt-small\n", ""},
		{"a drawn line short of the prefix's letters", "step 1\rstep 2: training\n", ""},
		{"the prefix's letters, nothing drawn", "agent meridian: ready\n", ""},
		{"a tab and ünïcode", "tab\tand ünïcode stay\n", ""},
		{"a long plain line", pad(200<<10) + "\n", ""},
	} {
		want := tc.want
		if want == "" {
			want = tc.out
		}
		var site bytes.Buffer
		a := &attempt{cfg: Config{Stdout: &site, Stderr: io.Discard}, m: &Manifest{LogLimit: 1 << 30}}
		a.readOutput(strings.NewReader(tc.out))
		for name, got := range map[string]string{"site's log": site.String(), "server's copy": string(a.logs.pending)} {
			if got != want {
				t.Errorf("%s: %s: got\n%q\nwant\n%q", tc.name, name, tail(got), tail(want))
			}
		}
	}
}

func tail(s string) string { return s[max(0, len(s)-120):] }

// TestAgentLinesBeginALine: output the workload left without its line's
// end ("(workload) ", or any words) does not run into the agent's next
// line in the server's copy of the log: the agent's line would read as the
// workload's, or as whatever the workload put before it. So do the notes
// that output was left out, or went over the limit.
func TestAgentLinesBeginALine(t *testing.T) {
	a := &attempt{cfg: Config{Stdout: io.Discard, Stderr: io.Discard}, m: &Manifest{LogLimit: 1 << 30}}
	a.readOutput(strings.NewReader("(workload) "))
	a.logf("no answer from the server: stopping the workload")
	a.readOutput(strings.NewReader("done\n"))
	a.logf("ended")
	want := "(workload) \nmeridian agent: no answer from the server: stopping the workload\ndone\nmeridian agent: ended\n"
	if got := string(a.logs.pending); got != want {
		t.Errorf("the server's copy:\n%q\nwant\n%q", got, want)
	}

	var l logShipper
	l.add([]byte("partial"), 100)
	l.add([]byte(strings.Repeat("z", 100)), 100)
	if got := string(l.pending); got != "partial\n"+overLimitNote || l.total > 100 {
		t.Errorf("over the limit the server's copy is %q (%d bytes); want the note on a line of its own, within the limit", got, l.total)
	}

	var m logShipper
	m.add([]byte("partial"), 1<<30)
	m.add(make([]byte, maxPending), 1<<30)
	m.pending = m.pending[:0]
	m.add([]byte("after\n"), 1<<30)
	if got := string(m.pending); !strings.HasPrefix(got, "\nmeridian agent: ") {
		t.Errorf("after a gap the server's copy is %q; want the note on a line of its own", got)
	}
}

// TestInvisibleRangesSkipped: the ranges invisible answers without the
// Unicode tables hold none of the characters the tables name.
func TestInvisibleRangesSkipped(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if invisible(r) != invisibleInTables(r) {
			t.Errorf("invisible(%U) = %v; the tables say %v", r, invisible(r), invisibleInTables(r))
		}
	}
}

// TestAgentLinesBeginALineInTheSiteLog: where the site's log takes the
// workload's output and the agent's lines in one file (the scheduler's
// log of the job), output the workload left without its line's end does
// not run into the agent's next line there either. Where they go to two
// files, the agent's lines are written as they are.
func TestAgentLinesBeginALineInTheSiteLog(t *testing.T) {
	const want = "(workload) \nmeridian agent: stopping the workload\ndone\nmeridian agent: ended\n"
	var buf bytes.Buffer
	a := &attempt{cfg: Config{Stdout: &buf, Stderr: &buf}, m: &Manifest{LogLimit: 1 << 30}}
	a.readOutput(strings.NewReader("(workload) "))
	a.logf("stopping the workload")
	a.readOutput(strings.NewReader("done\n"))
	a.logf("ended")
	if got := buf.String(); got != want {
		t.Errorf("one writer: the site's log is\n%q\nwant\n%q", got, want)
	}

	// The job's log opened twice, as a scheduler gives it to both.
	path := t.TempDir() + "/job.log"
	var files [2]*os.File
	for i := range files {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	b := &attempt{cfg: Config{Stdout: files[0], Stderr: files[1]}, m: &Manifest{LogLimit: 1 << 30}}
	b.readOutput(strings.NewReader("(workload) "))
	b.logf("stopping the workload")
	b.readOutput(strings.NewReader("done\n"))
	b.logf("ended")
	if got, err := os.ReadFile(path); err != nil || string(got) != want {
		t.Errorf("one file: the site's log is\n%q (%v)\nwant\n%q", got, err, want)
	}

	var out, errs bytes.Buffer
	c := &attempt{cfg: Config{Stdout: &out, Stderr: &errs}, m: &Manifest{LogLimit: 1 << 30}}
	c.readOutput(strings.NewReader("(workload) "))
	c.logf("ended")
	if errs.String() != "meridian agent: ended\n" {
		t.Errorf("two writers: the agent's lines are %q", errs.String())
	}
}

// TestAgentLinesBeginPlain: a colour, a style or a link the workload's
// output leaves in force (concealed text, say, which a terminal draws as
// blanks, or a link that would take in the agent's line) does not carry
// over into the agent's next line in the site's log, which a terminal
// shows: the agent's line begins by ending them. A line after output that
// left nothing in force is written as it is. The server's copy is shown
// by the console, which draws no style and would read a line beginning
// with a sequence as the workload's: its lines are kept as they were.
func TestAgentLinesBeginPlain(t *testing.T) {
	const (
		out  = "\x1b[8mconcealed from here on\n\x1b]8;;https://example.com/\x07and a link\n"
		want = out + "\x1b[0m\x1b]8;;\x1b\\meridian agent: stopping the workload\nplain\nmeridian agent: ended\n"
	)
	var site bytes.Buffer
	a := &attempt{cfg: Config{Stdout: &site, Stderr: &site}, m: &Manifest{LogLimit: 1 << 30}}
	a.readOutput(strings.NewReader(out))
	a.logf("stopping the workload")
	a.readOutput(strings.NewReader("plain\n"))
	a.logf("ended")
	if got := site.String(); got != want {
		t.Errorf("the site's log:\n%q\nwant\n%q", got, want)
	}
	if got, want := string(a.logs.pending), out+"meridian agent: stopping the workload\nplain\nmeridian agent: ended\n"; got != want {
		t.Errorf("the server's copy:\n%q\nwant\n%q", got, want)
	}

	// Colours alone, after a line left open.
	site.Reset()
	b := &attempt{cfg: Config{Stdout: &site, Stderr: &site}, m: &Manifest{LogLimit: 1 << 30}}
	b.readOutput(strings.NewReader("\x1b[30;40mblack on black"))
	b.logf("ended")
	if got, want := site.String(), "\x1b[30;40mblack on black\n\x1b[0mmeridian agent: ended\n"; got != want {
		t.Errorf("the site's log:\n%q\nwant\n%q", got, want)
	}
}

// TestWorkloadCannotWriteThePrefixInLookAlikes: a line that writes the
// agent's prefix with letters drawn like its own (Cyrillic, Greek or
// Armenian look-alikes, fullwidth or mathematical forms, a colon of
// another script, an accent or an invisible joiner among them) is marked
// as the workload's. Text in those scripts that does not spell the
// prefix is kept as written.
func TestWorkloadCannotWriteThePrefixInLookAlikes(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		mark      bool
	}{
		{"a Cyrillic e", "m\u0435ridian agent: checkpoint step-9 sealed\n", true},
		{"Cyrillic a, i, d and e", "m\u0435r\u0456\u0501i\u0430n \u0430g\u0435nt: sealed\n", true},
		{"Greek iota and alpha", "mer\u03b9di\u03b1n agent: sealed\n", true},
		{"Armenian n and colon", "meridia\u0578 agent\u0589 sealed\n", true},
		{"IPA g and a", "meridian \u0251\u0261ent: sealed\n", true},
		{"fullwidth", "\uff4d\uff45\uff52\uff49\uff44\uff49\uff41\uff4e \uff41\uff47\uff45\uff4e\uff54\uff1a sealed\n", true},
		{"a mathematical m", "\U0001d426eridian agent: sealed\n", true},
		{"a joiner and a Cyrillic i", "mer\u200d\u0456dian agent: sealed\n", true},
		{"a combining accent", "me\u0301ridian agent: sealed\n", true},
		{"a letter with its accent", "m\u00e9ridian ag\u00e8nt: sealed\n", true},
		{"a fullwidth m in a drawn line", "\uff4deridian agent: sealed\rx\n", true},
		{"Russian", "\u0437\u0430\u0433\u0440\u0443\u0437\u043a\u0430 \u0434\u0430\u043d\u043d\u044b\u0445: 45%\n", false},
		{"Greek", "\u03b1\u03c0\u03ce\u03bb\u03b5\u03b9\u03b1: 2.5\n", false},
		{"fullwidth digits", "\uff14\uff15\uff05 done\n", false},
		{"a progress bar in Russian", "\r\u043f\u0440\u043e\u0433\u0440\u0435\u0441\u0441 45%|\u2588\u2588\u2588\u2588\u258c     |\n", false},
	} {
		var site bytes.Buffer
		a := &attempt{cfg: Config{Stdout: &site, Stderr: io.Discard}, m: &Manifest{LogLimit: 1 << 30}}
		a.readOutput(strings.NewReader(tc.out))
		got := site.String()
		if marked := strings.HasPrefix(got, workloadMark); marked != tc.mark {
			t.Errorf("%s: %q written as %q; marked %v, want %v", tc.name, tc.out, got, marked, tc.mark)
		}
	}
}

// TestLookAlikesAreConfusables: every character lookAlike folds to a
// letter of the prefix is that letter in compatibility form (NFKC), or
// with accents, or drawn like it as Unicode's confusables (UTS #39) has
// it; that none it skips without a look-up would fold; and that the
// prefix's own letters are not folded.
func TestLookAlikesAreConfusables(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		c := lookAlike(r)
		if c == 0 {
			if c := lookAlikeNFKC(r); c != 0 && r >= utf8.RuneSelf {
				t.Errorf("%U %c: folds to %q, but lookAlike skips it", r, r, c)
			}
			continue
		}
		if r < utf8.RuneSelf {
			t.Errorf("%U: ASCII folded to %q", r, c)
			continue
		}
		base := strings.TrimRightFunc(norm.NFD.String(string(r)), func(m rune) bool { return unicode.Is(unicode.Mn, m) })
		if norm.NFKC.String(string(r)) != string(c) && confusables.Skeleton(string(r)) != string(c) && base != string(c) {
			t.Errorf("%U %c: folded to %q; its NFKC form is %q and its skeleton %q", r, r, c, norm.NFKC.String(string(r)), confusables.Skeleton(string(r)))
		}
	}
}

// TestAgentLinesShowWhatTheWorkloadNamed: a name the workload chose (a
// checkpoint's) written in the agent's own line cannot hide or reorder
// the rest of that line: a bidirectional override or an invisible
// character in it is written out, as a control character is.
func TestAgentLinesShowWhatTheWorkloadNamed(t *testing.T) {
	var errs bytes.Buffer
	a := &attempt{cfg: Config{Stdout: io.Discard, Stderr: &errs}, m: &Manifest{LogLimit: 1 << 30}}
	a.logf("checkpoint %s: %v", "ck-5\u202e\u200b\U000e0041\n", "refused")
	const want = "meridian agent: checkpoint ck-5\\u202e\\u200b\\U000e0041\\x0a: refused\n"
	for name, got := range map[string]string{"site's log": errs.String(), "server's copy": string(a.logs.pending)} {
		if got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}
