package main

import (
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

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

// stdoutTerminal reports whether w is a terminal. Tests replace it.
var stdoutTerminal = isTerminal

// workloadOutput is where a workload's output to w goes: w itself when
// raw or when w is not a terminal, else a termWriter on w. flush writes
// what the termWriter holds back (the start of a character cut off at the
// end of the output); call it when the output ends.
func workloadOutput(w io.Writer, raw bool) (out io.Writer, flush func() error) {
	if raw || !stdoutTerminal(w) {
		return w, func() error { return nil }
	}
	t := &termWriter{w: w, bytewise: !utf8Locale()}
	return t, t.Flush
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
// finds unsafe (bidirectional formatting, line and paragraph separators),
// and each byte that is not UTF-8 as \xNN. ESC and CSI are among them, so
// no escape sequence reaches w whole: its first byte shows as \x1b or
// \u009b and the rest as the text it is.
//
// It keeps state between writes: a character cut between two writes (the
// output arrives in pages and in a stream's reads) is judged whole, so a
// C1 control or an override split in two is escaped like one that is not.
// It holds back at most utf8.UTFMax-1 bytes.
//
// A terminal that reads bytes rather than UTF-8 (an 8-bit one: xterm in
// a Latin-1 locale) takes each byte 0x80 to 0x9F as a C1 control, 0x9B as
// CSI, also where it continues a UTF-8 character ("\u00db" is C3 9B). With
// bytewise, a character whose UTF-8 holds such a byte is written escaped
// too (\u00db); the others (Latin-1's letters, most of every script) stay.
type termWriter struct {
	w        io.Writer
	bytewise bool
	pend     [utf8.UTFMax]byte
	np       int
	in       []byte // pend and the write's bytes, when pend holds some
	out      []byte
}

// Write writes p on, escaped; it returns len(p) when w took all of it.
func (t *termWriter) Write(p []byte) (int, error) {
	data := p
	if t.np > 0 {
		t.in = append(append(t.in[:0], t.pend[:t.np]...), p...)
		data = t.in
	}
	out, rest := appendTermSafe(t.out[:0], data, false, t.bytewise)
	t.out = out
	if len(out) > 0 {
		if _, err := t.w.Write(out); err != nil {
			// What was held back stays held: a retry of p writes the same.
			return 0, err
		}
	}
	t.np = copy(t.pend[:], rest)
	if cap(t.in) > 64<<10 {
		t.in = nil
	}
	if cap(t.out) > 256<<10 {
		t.out = nil
	}
	return len(p), nil
}

// Flush writes what is held back: the start of a character that never
// ended, as the bytes it is (\xNN).
func (t *termWriter) Flush() error {
	if t.np == 0 {
		return nil
	}
	out, _ := appendTermSafe(nil, t.pend[:t.np], true, t.bytewise)
	t.np = 0
	_, err := t.w.Write(out)
	return err
}

// appendTermSafe appends b to dst escaped as termWriter writes it. Unless
// final, a character cut off at the end of b is not written but returned
// as rest, to be judged with the bytes that follow it. With bytewise, a
// character whose UTF-8 holds a byte an 8-bit terminal reads as a C1
// control is escaped too.
func appendTermSafe(dst, b []byte, final, bytewise bool) (out, rest []byte) {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' && c != '\t' && c != '\r' || c == 0x7f {
				dst = appendEscapedRune(dst, rune(c))
			} else {
				dst = append(dst, c)
			}
			i++
			continue
		}
		if !final && !utf8.FullRune(b[i:]) {
			return dst, b[i:]
		}
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, '\\', 'x', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		case textsafe.Unsafe(r):
			dst = appendEscapedRune(dst, r)
		case bytewise && holdsC1Byte(b[i+1:i+n]):
			dst = appendEscapedRuneASCII(dst, r)
		default:
			dst = append(dst, b[i:i+n]...)
		}
		i += n
	}
	return dst, nil
}

// appendEscapedRune appends r as Go writes it inside a quoted rune: \x1b,
// \a, \u009b, \u202e.
func appendEscapedRune(dst []byte, r rune) []byte {
	return unquoteLast(dst, strconv.AppendQuoteRune(dst, r))
}

// appendEscapedRuneASCII appends r as Go writes it inside a quoted rune
// in ASCII: \u00db, \U0001f600.
func appendEscapedRuneASCII(dst []byte, r rune) []byte {
	return unquoteLast(dst, strconv.AppendQuoteRuneToASCII(dst, r))
}

// unquoteLast drops the quotes of the rune q appended to dst.
func unquoteLast(dst, q []byte) []byte {
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
