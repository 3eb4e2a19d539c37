package main

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"meridian.dev/meridian/internal/textsafe"
)

// A workload's output (logs, run --follow) is the workload's to write, and
// a workload is hostile: written to a terminal as it is, an escape sequence
// in it sets the clipboard (OSC 52), the window's title or the cursor
// (hiding lines already shown), and a bidirectional override shows what
// follows it reordered. On a terminal it goes through a termWriter, which
// writes every such character visibly; to a file or a pipe it is written
// byte for byte, as scripts read it, and --raw writes it so to a terminal
// too.
//
// Byte for byte to a pipe stays the default: a script or a file wants the
// workload's bytes (a JSON line, a binary dump, text in another encoding),
// and kubectl logs, docker logs and journalctl -o cat write them so. A
// pager is the exception: less -R passes colours and OSC 8 links, less -r
// every escape, to the terminal. --escape writes the output escaped, as to
// a terminal, to a pipe or a file too (meridian logs ID --escape | less -R).

// escapeFlags adds --raw and --escape, which escapeCheck refuses together.
func escapeFlags(cmd *cobra.Command, raw, escape *bool, rawUsage string) {
	cmd.Flags().BoolVar(raw, "raw", false, rawUsage)
	cmd.Flags().BoolVar(escape, "escape", false, "write the output escaped, as to a terminal, to a file or a pipe too (a pager: | less -R)")
}

// escapeCheck refuses --raw with --escape.
func escapeCheck(raw, escape bool) error {
	if raw && escape {
		return badInput(errors.New("--raw and --escape: give one, not both (--raw writes the output byte for byte, --escape escaped)"))
	}
	return nil
}

// stdoutTerminal reports whether w is a terminal. Tests replace it.
var stdoutTerminal = isTerminal

// workloadOutput is where a workload's output to w goes: w itself when
// raw or when w is not a terminal (unless escape), else a termWriter on w. flush writes
// what the termWriter holds back (the start of a character cut off at the
// end of the output) and ends the output's last line when it is open;
// call it when the output ends, before Meridian writes its own lines.
func workloadOutput(w io.Writer, raw, escape bool) (out io.Writer, flush func() error) {
	if raw || !escape && !stdoutTerminal(w) {
		return w, func() error { return nil }
	}
	t := &termWriter{w: w, bytewise: !utf8Locale(), term: stdoutTerminal(w)}
	return t, func() error {
		err := t.Flush()
		if t.term {
			// What follows on the terminal (the run's end, an error,
			// the shell's prompt) starts a row of its own.
			err = errors.Join(err, t.EndLine())
		}
		return err
	}
}

// utf8Locale reports whether the locale (LC_ALL, else LC_CTYPE, else
// LANG) names a UTF-8 character set, as a terminal that reads UTF-8 is
// set up to. None set is the C locale: a terminal of bytes.
func utf8Locale() bool {
	for _, v := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if s := strings.ToLower(os.Getenv(v)); s != "" {
			return strings.Contains(s, "utf-8") || strings.Contains(s, "utf8")
		}
	}
	return false
}

// termWriter writes what is written to it on to w with each character that
// could act on a terminal escaped as Go writes it in a quoted string: the
// C0 controls but newline, tab and carriage return (kept: lines and
// progress bars), DEL, the C1 controls, the other characters textsafe
// finds unsafe (bidirectional formatting, line and paragraph separators,
// characters drawn as nothing), a joiner, a direction mark or a variation
// selector out of the place a word needs it (textsafe.Fits), and each
// byte that is not UTF-8 as \xNN. ESC and CSI are among them, so no escape
// sequence reaches w whole: its first byte shows as \x1b or \u009b and
// the rest as the text it is. A newline, a tab or a carriage return ends
// the text a joiner or a mark is judged in, as where textsafe.Escape is
// given the output line by line.
//
// It keeps state between writes: a character cut between two writes (the
// output arrives in pages and in a stream's reads) is judged whole, so a
// C1 control or an override split in two is escaped like one that is not,
// and a joiner or a mark at the end of a write waits for the character
// after it. It holds back at most 2*utf8.UTFMax-1 bytes.
//
// A terminal that reads bytes rather than UTF-8 (an 8-bit one: xterm in
// a Latin-1 locale) takes each byte 0x80 to 0x9F as a C1 control, 0x9B as
// CSI, also where it continues a UTF-8 character ("\u00db" is C3 9B). With
// bytewise, a character whose UTF-8 holds such a byte is written escaped
// too (\u00db); the others (Latin-1's letters, most of every script) stay.
//
// The output has no prefix of Meridian's on its lines, so a carriage
// return in it draws over the workload's own text only; but a line of
// Meridian's own written to the same terminal (an event of run --follow,
// the run's end, an error) would start where the cursor is, and the
// workload's text left on that row after a carriage return would show as
// the end of Meridian's line. EndLine, and each write of ownLines, first
// ends the output's line when it is open.
type termWriter struct {
	mu       sync.Mutex
	w        io.Writer
	bytewise bool
	term     bool // w is a terminal (not a pipe given --escape)
	pend     [2 * utf8.UTFMax]byte
	np       int
	last     rune   // the last character written as itself; 0 for none
	open     bool   // what was written last does not end a line
	in       []byte // pend and the write's bytes, when pend holds some
	out      []byte
}

// Write writes p on, escaped; it returns len(p) when w took all of it.
func (t *termWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	data := p
	if t.np > 0 {
		t.in = append(append(t.in[:0], t.pend[:t.np]...), p...)
		data = t.in
	}
	out, rest, last := appendTermSafe(t.out[:0], data, false, t.bytewise, t.prev())
	t.out = out
	if len(out) > 0 {
		if _, err := t.w.Write(out); err != nil {
			// What was held back stays held: a retry of p writes the same.
			return 0, err
		}
		t.open = out[len(out)-1] != '\n'
	}
	t.setPrev(last)
	t.np = copy(t.pend[:], rest)
	if cap(t.in) > 64<<10 {
		t.in = nil
	}
	if cap(t.out) > 256<<10 {
		t.out = nil
	}
	return len(p), nil
}

// prev is the last character written as itself, -1 for none.
func (t *termWriter) prev() rune {
	if t.last == 0 {
		return -1
	}
	return t.last
}

func (t *termWriter) setPrev(r rune) { t.last = max(r, 0) }

// Flush writes what is held back: the start of a character that never
// ended, as the bytes it is (\xNN), and a joiner or a mark the output
// ended with, judged with nothing after it.
func (t *termWriter) Flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.np == 0 {
		return nil
	}
	out, _, last := appendTermSafe(nil, t.pend[:t.np], true, t.bytewise, t.prev())
	t.np = 0
	t.setPrev(last)
	if len(out) > 0 {
		t.open = out[len(out)-1] != '\n'
	}
	_, err := t.w.Write(out)
	return err
}

// EndLine writes a newline when the output's line is open (what was
// written last does not end a line: a progress bar, a carriage return
// before text), so that what is written next to the terminal starts a row
// of its own.
func (t *termWriter) EndLine() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.endLineLocked()
}

func (t *termWriter) endLineLocked() error {
	if !t.open {
		return nil
	}
	if _, err := t.w.Write([]byte{'\n'}); err != nil {
		return err
	}
	t.open = false
	return nil
}

// ownLines is where Meridian's own lines go (errw of run --follow) while
// a workload's output goes to out on the same terminal: each write first
// ends the output's open line, under out's lock, so that no line of
// Meridian's shares a row with the workload's text.
type ownLines struct {
	out *termWriter
	w   io.Writer
}

func (o *ownLines) Write(p []byte) (int, error) {
	o.out.mu.Lock()
	defer o.out.mu.Unlock()
	if err := o.out.endLineLocked(); err != nil {
		return 0, err
	}
	return o.w.Write(p)
}

// ownLinesTo is errw for Meridian's own lines beside out, a workload's
// output: an ownLines when out is a termWriter on a terminal and errw is a
// terminal too, else errw.
func ownLinesTo(out, errw io.Writer) io.Writer {
	if t, ok := out.(*termWriter); ok && t.term && stdoutTerminal(errw) {
		return &ownLines{out: t, w: errw}
	}
	return errw
}

// appendTermSafe appends b to dst escaped as termWriter writes it, prev
// the character written as itself before b (-1 for none), and returns the
// last character written as itself (-1 for none). Unless final, a
// character cut off at the end of b, or a joiner or a mark whose next
// character is not whole in b, is not written but returned as rest, to be
// judged with the bytes that follow it. With bytewise, a character whose
// UTF-8 holds a byte an 8-bit terminal reads as a C1 control is escaped
// too.
func appendTermSafe(dst, b []byte, final, bytewise bool, prev rune) (out, rest []byte, last rune) {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			switch {
			case c < 0x20 && c != '\n' && c != '\t' && c != '\r' || c == 0x7f:
				dst = textsafe.AppendEscaped(dst, rune(c))
				prev = -1
			case c == '\n' || c == '\t' || c == '\r':
				dst = append(dst, c)
				prev = -1 // a joiner or a mark is judged within a piece
			default:
				dst = append(dst, c)
				prev = rune(c)
			}
			i++
			continue
		}
		if !final && !utf8.FullRune(b[i:]) {
			return dst, b[i:], prev
		}
		r, n := utf8.DecodeRune(b[i:])
		esc := r == utf8.RuneError && n == 1 || textsafe.Unsafe(r)
		if !esc && textsafe.Contextual(r) {
			next := rune(-1)
			switch {
			case i+n < len(b) && (final || utf8.FullRune(b[i+n:])):
				if nr, nn := utf8.DecodeRune(b[i+n:]); !(nr == utf8.RuneError && nn == 1) {
					next = nr
				}
			case !final:
				return dst, b[i:], prev // judged with the character after it
			}
			esc = !textsafe.Fits(prev, r, next)
		}
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, '\\', 'x', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		case esc:
			dst = textsafe.AppendEscaped(dst, r)
		case bytewise && holdsC1Byte(b[i+1:i+n]):
			dst = appendEscapedRuneASCII(dst, r)
			esc = true
		default:
			dst = append(dst, b[i:i+n]...)
		}
		if esc {
			prev = -1
		} else {
			prev = r
		}
		i += n
	}
	return dst, nil, prev
}

// appendEscapedRuneASCII appends r as Go writes it inside a quoted rune
// in ASCII: \u00db, \U0001f600.
func appendEscapedRuneASCII(dst []byte, r rune) []byte {
	q := strconv.AppendQuoteRuneToASCII(dst, r)
	// Drop the quotes: q is dst, then 'ESCAPE'.
	n := len(q) - len(dst)
	copy(q[len(dst):], q[len(dst)+1:len(dst)+n-1])
	return q[:len(q)-2]
}

// holdsC1Byte reports whether a UTF-8 character's continuation bytes hold
// one an 8-bit terminal reads as a C1 control (0x80 to 0x9F).
func holdsC1Byte(cont []byte) bool {
	for _, c := range cont {
		if c <= 0x9f {
			return true
		}
	}
	return false
}
