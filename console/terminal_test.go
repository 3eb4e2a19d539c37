package console

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evanw/esbuild/pkg/api"
)

// terminalHarness is a program for node that runs src/terminal.ts's
// LogText the way the run page does: each piece of output pushed, the
// page's text after each (the finished lines, then the line being
// written), and the text once the output ends.
const terminalHarness = `
import { LogText } from "./terminal";
declare const process: any;
declare function require(name: string): any;
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
function page(chunks: string[]) {
  const t = new LogText() as any;
  let text = "";
  const screens: string[] = [];
  for (const c of chunks) {
    text += t.push(c);
    screens.push(text + (typeof t.line === "function" ? t.line() : ""));
  }
  return { screens, final: text + t.end() };
}
if (input.bench) {
  page(input.bench); // warm the JIT, as a page reading a stream is
  const t0 = process.hrtime.bigint();
  let n = 0;
  for (let i = 0; i < input.reps; i++) n += page(input.bench).final.length;
  process.stdout.write(JSON.stringify({ ns: Number(process.hrtime.bigint() - t0), n }));
} else {
  process.stdout.write(JSON.stringify(input.cases.map(page)));
}
`

type pageText struct {
	Screens []string
	Final   string
}

// runTerminal runs the harness on input (JSON) and decodes its answer
// into out.
func runTerminal(tb testing.TB, input any, out any) {
	tb.Helper()
	runHarness(tb, terminalHarness, input, out)
}

// runHarness bundles harness (TypeScript importing console/src's modules)
// for node, runs it with input (JSON) on its stdin and decodes what it
// writes into out.
func runHarness(tb testing.TB, harness string, input any, out any) {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		// npm, which scripts/test.sh needs for the bundle's check, brings
		// node: where the browser tests are asked for, so is this one.
		if os.Getenv("MERIDIAN_TEST_BROWSER") == "1" {
			tb.Fatal("node is missing")
		}
		tb.Skip("node is missing")
	}
	res := api.Build(api.BuildOptions{
		Stdin:    &api.StdinOptions{Contents: harness, ResolveDir: "src", Sourcefile: "harness.ts", Loader: api.LoaderTS},
		Bundle:   true,
		Format:   api.FormatIIFE,
		Platform: api.PlatformNode,
		Target:   api.ES2020,
		Write:    false,
		LogLevel: api.LogLevelSilent,
	})
	if len(res.Errors) > 0 || len(res.OutputFiles) != 1 {
		tb.Fatalf("building the harness: %v", res.Errors)
	}
	script := filepath.Join(tb.TempDir(), "harness.js")
	if err := os.WriteFile(script, res.OutputFiles[0].Contents, 0o644); err != nil {
		tb.Fatal(err)
	}
	in, err := json.Marshal(input)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(node, script)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	if err != nil {
		tb.Fatalf("node: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(got, out); err != nil {
		tb.Fatalf("the harness answered %q: %v", got, err)
	}
}

// TestLogTextCarriageReturn: a carriage return draws over the line as a
// terminal would, so a progress bar is the one line it is on a terminal.
// Before, each CR started a new line: a 10,000-step bar was 10,000 lines
// of the page, and the line being written showed only once it ended.
func TestLogTextCarriageReturn(t *testing.T) {
	const width = 4096 // LogText.WIDTH
	long := strings.Repeat("a", width+904)
	cases := []struct {
		name    string
		chunks  []string
		screens []string // the page after each chunk; nil: not checked
		final   string
	}{
		{"a bar's updates, one a piece", []string{" 0%|     | 0/4\r", " 50%|##   | 2/4\r", "100%|#####| 4/4\n", "done\n"},
			[]string{" 0%|     | 0/4", " 50%|##   | 2/4", "100%|#####| 4/4\n", "100%|#####| 4/4\ndone\n"}, "100%|#####| 4/4\ndone\n"},
		{"the line as it stands, before its end", []string{"epoch 1 ", "12%", "\r", "epoch 1 ", "50%"},
			[]string{"epoch 1 ", "epoch 1 12%", "epoch 1 12%", "epoch 1 12%", "epoch 1 50%"}, "epoch 1 50%"},
		{"updates cut anywhere", []string{"step 1/3\rst", "ep 2/3\rstep", " 3/3", "\nnext\n"}, nil, "step 3/3\nnext\n"},
		{"CRLF is a line end", []string{"one\r\ntwo\r", "\nthree\r\n"}, []string{"one\ntwo", "one\ntwo\nthree\n"}, "one\ntwo\nthree\n"},
		{"a shorter update leaves the end", []string{"loss 10.25\rloss 9.5\n"}, nil, "loss 9.525\n"},
		{"erase after CR", []string{"DRAWN-OVER\r\x1b[2KBELL\x01\n", "abcdef\r\x1b[Kxy\n", "abcdef\rxy\x1b[K\n", "abcdef\x1b[1Kg\n", "abc\x1b[0Kd\n"}, nil,
			"BELL\u2401\nxy\nxy\n      g\nabcd\n"},
		{"escapes dropped, controls and bidi shown", []string{"\x1b[31mRED\x1b[0m \x1b]8;;https://evil.example/\x07link\x1b]8;;\x07\n", "a\u202eb\rX\n", "x\x1b[99", "\rY\n"}, nil,
			"RED link\nX[U+202E]b\nY\u241b[99\n"},
		{"lone controls in a fast piece", []string{"plain\n", "ab\x08c\n"}, nil, "plain\nab\u2408c\n"},
		{"a million CRs", []string{"x" + strings.Repeat("\r", 1_000_000) + "done", strings.Repeat("\r", 1_000_000) + "D\n"}, []string{"done", "Done\n"}, "Done\n"},
		{"a line wider than a terminal wraps", []string{long + "\rB\n"}, nil, strings.Repeat("a", width) + "B" + strings.Repeat("a", 903) + "\n"},
		{"whole lines of a piece", []string{"partial ", "line\nmiddle 1\nmiddle 2\nlast par", "t\r", "LAST-PART\n"}, []string{"partial ", "partial line\nmiddle 1\nmiddle 2\nlast par", "partial line\nmiddle 1\nmiddle 2\nlast part", "partial line\nmiddle 1\nmiddle 2\nLAST-PART\n"}, "partial line\nmiddle 1\nmiddle 2\nLAST-PART\n"},
		// The agent marks a line of the workload's holding its prefix;
		// a line that shows the prefix only once drawn over, or once a
		// sequence is dropped, is marked here.
		{"drawn into the agent's prefix", []string{"Xeridian agent: checkpoint step-9 sealed\rm"}, []string{"(workload) meridian agent: checkpoint step-9 sealed"}, "(workload) meridian agent: checkpoint step-9 sealed"},
		{"the agent's prefix with a sequence in it", []string{"meridian\x1b[0m agent: sealed\n", "  \x1b[1mmeridian agent: indented\n", "meridian agenX: x\r\x1b[14Cmeridian agent\n"}, nil,
			"(workload) meridian agent: sealed\n(workload)   meridian agent: indented\n(workload) meridian agent: x\n"},
		{"the agent's own lines", []string{"meridian agent: the agent's own line\n", "(workload) progress\\x0dmeridian agent: checkpoint step-9 sealed\n", "step 1\rstep 2\n"}, nil,
			"meridian agent: the agent's own line\n(workload) progress\\x0dmeridian agent: checkpoint step-9 sealed\nstep 2\n"},
	}
	var in struct {
		Cases [][]string `json:"cases"`
	}
	for _, c := range cases {
		in.Cases = append(in.Cases, c.chunks)
	}
	var got []pageText
	runTerminal(t, in, &got)
	if len(got) != len(cases) {
		t.Fatalf("%d answers for %d cases", len(got), len(cases))
	}
	short := func(s string) string {
		if len(s) > 200 {
			return s[:100] + "…" + s[len(s)-100:]
		}
		return s
	}
	for i, c := range cases {
		if got[i].Final != c.final {
			t.Errorf("%s: the page shows\n%q\nwant\n%q", c.name, short(got[i].Final), short(c.final))
		}
		if c.screens == nil {
			continue
		}
		if len(got[i].Screens) != len(c.screens) {
			t.Fatalf("%s: %d screens for %d pieces", c.name, len(got[i].Screens), len(c.screens))
		}
		for j, want := range c.screens {
			if got[i].Screens[j] != want {
				t.Errorf("%s: after piece %d the page shows %q, want %q", c.name, j+1, short(got[i].Screens[j]), short(want))
			}
		}
	}
}

// TestLogTextLookAlikePrefix: a line that shows the agent's prefix only
// once its look-alike letters are read as the prefix's own (Cyrillic е,
// Greek ι, Armenian ո, fullwidth and mathematical forms, accents precomposed
// or written apart, a colon of another script), or with a space of
// another width, is marked as
// the workload's: the agent writes its prefix in ASCII only. Before, such
// a line ("mеridian agent: checkpoint sealed") was shown as the agent's.
// Lines in those scripts that do not spell the prefix, and the agent's own
// lines, are left as they are.
func TestLogTextLookAlikePrefix(t *testing.T) {
	marked := []string{
		"m\u0435ridian agent: checkpoint step-9 sealed", // Cyrillic е
		"mer\u0456d\u0456an agent: lease renewed",       // Cyrillic і
		"mer\u03b9dian \u03b1gent: sealed",              // Greek ι α
		"meridia\u0578 a\u0261e\u057ct: sealed",         // Armenian ո ռ, IPA ɡ
		"meri\u0501ian agent: sealed",                   // Cyrillic ԁ
		"\uff4d\uff45\uff52\uff49\uff44\uff49\uff41\uff4e \uff41\uff47\uff45\uff4e\uff54\uff1a sealed", // fullwidth
		"\U0001d426eridian agent: sealed",    // mathematical bold m
		"m\u00e9ridian agent: sealed",        // é
		"me\u0301ridian agent: sealed",       // e and a combining acute
		"meridian\u00a0agent: sealed",        // a no-break space
		"meridian agent\u2236 sealed",        // ratio for the colon
		"\u3000\u2003meridian agent: sealed", // wide blanks before
		"meridian\u3000agent: sealed",        // an ideographic space
		"  mer\u0456dian agent: indented",
	}
	plain := []string{
		"meridian agent: the agent's own line",
		"(workload) m\u0435ridian agent: marked by the agent",
		"\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440", // Russian
		"m\u0435ridian agent without a colon",
		"meridian agents: not the prefix",
		"\u65e5\u672c\u8a9e 42%|\u2588\u2588\u2588\u2588      | 420/1000",
		"meridian_agent: not blank",
		"\u043cer\u0456dian agent: \u043c is not in the table",
		"",
		"   ",
	}
	var in struct {
		Cases [][]string `json:"cases"`
	}
	for _, l := range marked {
		in.Cases = append(in.Cases, []string{l + "\n"}, []string{"step 1", "\r" + l}) // a finished line, and one being written
	}
	for _, l := range plain {
		in.Cases = append(in.Cases, []string{l + "\n"})
	}
	// Lines between others in one piece, and lines wider than the page's
	// WIDTH (4,096 cells), are marked the same; so is one wider than that
	// whose prefix shows once a sequence is dropped.
	long := strings.Repeat("x", 5000)
	in.Cases = append(in.Cases,
		[]string{"step 1\nm\u0435ridian agent: between\n\u043f\u0440\u0438\u0432\u0435\u0442\nmeridian agent: own\nme\u0301ridian agent: x\nlast"},
		[]string{"a\n\n \u3000\nm\u0435ridian agent: after blank lines\nb\n"},
		[]string{"m\u0435ridian agent: " + long + "\n"},
		[]string{"\x1b[0mmeridian agent: " + long + "\n"},
	)
	more := []string{
		"step 1\n(workload) m\u0435ridian agent: between\n\u043f\u0440\u0438\u0432\u0435\u0442\nmeridian agent: own\n(workload) me\u0301ridian agent: x\nlast",
		"a\n\n \u3000\n(workload) m\u0435ridian agent: after blank lines\nb\n",
		"(workload) m\u0435ridian agent: " + long + "\n",
		"(workload) meridian agent: " + long + "\n",
	}
	// A character drawn as nothing is shown as its marker, as meridian
	// logs shows it: the line then reads as no one's prefix.
	hidden := [][2]string{
		{"meri\u200bdian agent: sealed", "meri[U+200B]dian agent: sealed"},
		{"mer\u00adidian agent: sealed", "mer[U+00AD]idian agent: sealed"},
		{"\ufeffmeridian agent: sealed", "[U+FEFF]meridian agent: sealed"},
	}
	for _, x := range hidden {
		in.Cases = append(in.Cases, []string{x[0] + "\n"}, []string{"step 1", "\r" + x[0]})
	}
	var got []pageText
	runTerminal(t, in, &got)
	short := func(s string) string {
		if len(s) > 200 {
			return s[:100] + "…" + s[len(s)-100:]
		}
		return s
	}
	if len(got) != len(in.Cases) {
		t.Fatalf("%d answers for %d cases", len(got), len(in.Cases))
	}
	for i, l := range marked {
		if want := "(workload) " + l + "\n"; got[2*i].Final != want {
			t.Errorf("%+q: the page shows %+q, want %+q", l, got[2*i].Final, want)
		}
		if want := "(workload) " + l; got[2*i+1].Screens[1] != want {
			t.Errorf("%+q drawn over a line: the page shows %+q, want %+q", l, got[2*i+1].Screens[1], want)
		}
	}
	for i, l := range plain {
		if want := l + "\n"; got[2*len(marked)+i].Final != want {
			t.Errorf("%+q: the page shows %+q, want it as it is", l, got[2*len(marked)+i].Final)
		}
	}
	for i, want := range more {
		if g := got[2*len(marked)+len(plain)+i].Final; g != want {
			t.Errorf("the page shows %+q, want %+q", short(g), short(want))
		}
	}
	for i, x := range hidden {
		at := 2*len(marked) + len(plain) + len(more) + 2*i
		if g := got[at].Final; g != x[1]+"\n" {
			t.Errorf("%+q: the page shows %+q, want %+q", x[0], g, x[1]+"\n")
		}
		if g := got[at+1].Screens[1]; g != x[1] {
			t.Errorf("%+q drawn over a line: the page shows %+q, want %+q", x[0], g, x[1])
		}
	}
}

// BenchmarkLogText: what the page spends on a megabyte of output: plain
// lines, one long line, a bar's updates, a million CRs after a long line,
// a million line erases, lines the agent's prefix is looked for in to
// their end.
func BenchmarkLogText(b *testing.B) {
	mib := 1 << 20
	for _, bc := range []struct {
		name  string
		input string
	}{
		{"lines", strings.Repeat(strings.Repeat("x", 99)+"\n", mib/100)},
		{"one-line", strings.Repeat("x", mib)},
		{"bar", strings.Repeat("\r 42%|####      | 420/1000 [00:42<00:58, 10.00it/s]", mib/50)},
		{"cr-after-long-line", strings.Repeat("y", 4000) + strings.Repeat("\r", mib)},
		{"cr-writes", strings.Repeat("y", 4000) + strings.Repeat("\rz", mib/2)},
		{"erase", strings.Repeat("y", 4000) + strings.Repeat("\x1b[2K", mib/4)},
		// lines read to their end for the agent's prefix: blanks, and
		// marks drawn as nothing
		{"blank-lines", strings.Repeat(strings.Repeat(" ", 4000)+"x\n", mib/4001)},
		{"cyrillic-lines", strings.Repeat("\u041f\u0440\u0438\u0432\u0435\u0442, \u0448\u0430\u0433 42 \u0438\u0437 1000: m\u0435ridian\n", mib/40)},
		{"mark-lines", strings.Repeat("m"+strings.Repeat("\u0301", 2000)+"x\n", mib/4004)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			// pieces as a stream brings them
			var chunks []string
			for s := bc.input; len(s) > 0; {
				n := min(len(s), 64<<10)
				chunks = append(chunks, s[:n])
				s = s[n:]
			}
			var out struct{ Ns float64 }
			runTerminal(b, map[string]any{"bench": chunks, "reps": b.N}, &out)
			b.ReportMetric(out.Ns/float64(b.N), "js-ns/op")
			b.ReportMetric(float64(len(bc.input))/(out.Ns/float64(b.N))*1e3, "js-MB/s")
		})
	}
}
