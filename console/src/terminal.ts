// Text from tenants, sites and workloads, made safe to read: what would
// change how the page reads without being seen is shown instead.
//
// Bidirectional controls (embeddings, overrides, isolates: the "Trojan
// Source" characters) reorder the text around them, so a run's reason or
// a rule's message could make its text read as something else ("rule
// allows" shown for "rule denies"); control characters are invisible in a
// page. Each is shown as what it is: a C0 control as its Unicode control
// picture (␛), the others as [U+XXXX]. Ordinary right-to-left letters
// (an Arabic or Hebrew name) are left alone: only the invisible controls
// are marked.

function isBidiControl(c: number): boolean {
  return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

function marker(c: number): string {
  if (c < 0x20) return String.fromCharCode(0x2400 + c);
  if (c === 0x7f) return "\u2421";
  return "[U+" + c.toString(16).toUpperCase().padStart(4, "0") + "]";
}

// SPECIAL matches what LogText acts on or may mark (line): the controls
// (LF and tab are plain text to it), the line and paragraph separators,
// the format characters and the default-ignorable ones (Cf and
// Default_Ignorable_Code_Point, written out: as property classes, the
// regular expression read plain output at a fifth of the speed), and the
// first halves of those outside the BMP; it keeps its own lastIndex.
const SPECIAL =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\ud804\ud80d\ud82f\ud834\udb40-\udb43]/g;

// SURROGATE matches half of a character outside the BMP (one cell).
const SURROGATE = /[\ud800-\udfff]/;

// shown is s with every character that the server writes escaped where it
// is (internal/textsafe: its At, as IndexKeeping walks text that keeps
// tab and newline) replaced by a visible marker: a control character
// (but tab and newline), a bidirectional control, the line and paragraph
// separators, a character drawn as nothing (a zero-width space, a soft
// hyphen, a word joiner, a byte order mark, a Hangul filler, the tag
// characters that spell ASCII no one sees), half of a character, and a
// joiner, direction mark or variation selector out of its place (a
// zero-width joiner between two Latin letters; in its place, in an
// Arabic word or an emoji, it is kept). Before, only the controls and
// the bidirectional controls were marked, so that a name holding an
// invisible character ("ad\u200bmin") read as another ("admin") where
// the server's own output showed it escaped.
export function shown(s: string): string {
  // after is where the last character marked ends: the character after
  // it has none shown before it.
  let after = -1;
  return s.replace(SHOWN_MAYBE, (ch: string, i: number) => {
    const c = ch.codePointAt(0) as number;
    const j = i + ch.length;
    let prev = -1;
    if (i > 0 && after !== i) {
      prev = s.charCodeAt(i - 1);
      if (prev >= 0xdc00 && prev <= 0xdfff && i > 1) {
        const p2 = s.codePointAt(i - 2) as number;
        if (p2 > 0xffff) prev = p2;
      }
      if (isSurrogate(prev)) prev = -1;
    }
    let next = -1;
    if (j < s.length) {
      const x = s.codePointAt(j) as number;
      if (!isSurrogate(x)) next = x;
    }
    if (!escapedAt(prev, c, next)) return ch;
    after = j;
    return markerOf(c);
  });
}

// NAME_SHOWN is how many characters of a name a heading or the window's
// title shows: a link names what it likes, up to the megabytes a URL may
// hold.
export const NAME_SHOWN = 128;

// nameShown is a name that is not the page's own (a run's id from a
// link, a page's name that names none) as a heading or the window's
// title shows it: its first NAME_SHOWN characters, judged on their own,
// as shown() shows text, and a tab or newline as its marker too (a
// heading, unlike the output, has no lines), then how many more there
// are. Before, a heading held the whole name with its newlines and tabs,
// so that a crafted link wrote what it liked as the page's own heading.
export function nameShown(name: string, max = NAME_SHOWN): string {
  let i = 0;
  let n = 0;
  while (i < name.length && n < max) {
    i += (name.codePointAt(i) as number) > 0xffff ? 2 : 1;
    n++;
  }
  const head = shown(name.slice(0, i)).replace(/[\t\n]/g, (ch) => markerOf(ch.charCodeAt(0)));
  if (i >= name.length) return head;
  let more = 0;
  for (let j = i; j < name.length; j += (name.codePointAt(j) as number) > 0xffff ? 2 : 1) more++;
  return `${head}… (${more} more character${more === 1 ? "" : "s"})`;
}

// SHOWN_MAYBE matches what shown() looks at: a character outside the BMP
// (a pair), and in the BMP every character it may mark (a superset): the
// controls but tab and newline (layout; the character after one is
// judged as after a marked one, neither being a letter), the format and
// default-ignorable characters (Cf and Default_Ignorable_Code_Point,
// written out as in SPECIAL, which is faster than property classes;
// console.TestShownMarksWhatTheServerEscapes checks every character
// against the server's), the line and paragraph separators, and half of
// a pair. The text between them is left as it is.
const SHOWN_MAYBE =
  /[\ud800-\udbff][\udc00-\udfff]|[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ud800-\udfff\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb]/g;

// markerOf is marker(c), made once for each character marked.
const MARKERS = new Map<number, string>();
function markerOf(c: number): string {
  let m = MARKERS.get(c);
  if (m === undefined) {
    m = marker(c);
    if (MARKERS.size < 4096) MARKERS.set(c, m);
  }
  return m;
}

function isSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdfff;
}

// escapedAt says whether c, between prev (the character before it shown
// as itself, else -1) and next (-1 at the end), is shown as a marker:
// internal/textsafe's At.
function escapedAt(prev: number, c: number, next: number): boolean {
  if (isSurrogate(c)) return true;
  if (c < 0x80) return c < 0x20 || c === 0x7f;
  if (unsafe(c)) return true;
  if (contextual(c)) return !fits(prev, c, next);
  return false;
}

const CF_OR_IGNORABLE = /^[\p{Cf}\p{Default_Ignorable_Code_Point}]$/u;

// invisible is textsafe's Invisible: a character drawn as nothing that
// no name needs.
function invisible(c: number): boolean {
  if (c < 0x2070) {
    const listed = c === 0xad || c === 0x34f || c === 0x180e || (c >= 0x115f && c <= 0x1160) || (c >= 0x17b4 && c <= 0x17b5) || (c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) || c >= 0x2060;
    return listed && !contextual(c);
  }
  if (c < 0xfe00 && c !== 0x3164) return false;
  if (c === 0x110bd || c === 0x110cd) return false;
  if (contextual(c)) return false;
  return CF_OR_IGNORABLE.test(String.fromCodePoint(c));
}

// unsafe is textsafe's Unsafe: never shown as itself.
function unsafe(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || isBidiControl(c) || c === 0x2028 || c === 0x2029 || invisible(c);
}

// contextual is textsafe's Contextual: the joiners, the direction marks
// and the variation selectors, shown as themselves only where they fit.
function contextual(c: number): boolean {
  return (c >= 0x200c && c <= 0x200f) || c === 0x061c || (c >= 0x180b && c <= 0x180f && c !== 0x180e) || (c >= 0xfe00 && c <= 0xfe0f) || (c >= 0xe0100 && c <= 0xe01ef);
}

function base(c: number): boolean {
  return c >= 0 && c !== 0xfffd && !isSurrogate(c) && !unsafe(c) && !contextual(c);
}

function is(re: RegExp, c: number): boolean {
  return c >= 0 && re.test(String.fromCodePoint(c));
}

const LETTER_OR_MARK = /^[\p{L}\p{M}]$/u;
const MARK = /^\p{M}$/u;
const INHERITED_MARK = /^(?=\p{M})\p{Script=Inherited}$/u;
const SYMBOL_OTHER = /^\p{So}$/u;
const RTL = /^(?=[\p{L}\p{M}\p{N}])[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}\p{Script=Samaritan}\p{Script=Mandaic}\p{Script=Adlam}\p{Script=Hanifi_Rohingya}]$/u;
const VS_BASE = /^[\p{L}\p{N}\p{S}\p{P}]$/u;
// JOINING are textsafe's joiningScripts, in its order.
const JOINING = ["Arabic", "Syriac", "Nko", "Mongolian", "Mandaic", "Manichaean", "Psalter_Pahlavi", "Adlam", "Hanifi_Rohingya", "Phags_Pa", "Devanagari", "Bengali", "Gurmukhi", "Gujarati", "Oriya", "Tamil", "Telugu", "Kannada", "Malayalam", "Sinhala", "Khmer", "Myanmar", "Tibetan", "Balinese", "Javanese"].map((n) => new RegExp(`^\\p{Script=${n}}$`, "u"));

function joiningScript(c: number): RegExp | null {
  if (c < 0x0600) return null;
  for (const s of JOINING) if (is(s, c)) return s;
  return null;
}

function rtl(c: number): boolean {
  return base(c) && c >= 0x0590 && is(RTL, c);
}

// fits is textsafe's Fits: whether a contextual character c may be shown
// as itself between prev and next.
function fits(prev: number, c: number, next: number): boolean {
  if (c === 0x200c || c === 0x200d) {
    if (prev < 0 || next < 0 || (!base(prev) && !contextual(prev)) || !base(next)) return false;
    const s = joiningScript(next);
    if (s && base(prev) && is(LETTER_OR_MARK, next)) {
      if (is(s, prev) && is(LETTER_OR_MARK, prev)) return true;
      if (is(MARK, prev) && is(INHERITED_MARK, prev)) return true;
    }
    return c === 0x200d && is(SYMBOL_OTHER, next) && ((is(SYMBOL_OTHER, prev) && base(prev)) || (prev >= 0x1f3fb && prev <= 0x1f3ff) || prev === 0xfe0f);
  }
  if (c === 0x200e || c === 0x200f || c === 0x061c) return rtl(prev) || rtl(next);
  return prev >= 0 && base(prev) && is(VS_BASE, prev);
}

// AGENT_LIKE matches a line that reads as one of the run's agent's own
// (the agent writes them into the output). The agent marks a line of the
// workload's that holds its prefix with WORKLOAD_MARK, but it sees bytes:
// "Xeridian agent: sealed\rm" or "meridian\x1b[0m agent: sealed" hold
// no prefix, and show one once a CR draws over the line or the sequence
// is dropped. LogText marks such a line as the agent would have.
//
// A line can also read as the agent's without its letters: "mеridian
// agent:" with a Cyrillic е, in fullwidth forms, with accents, or with an
// invisible character between its letters. The agent writes its prefix in
// ASCII and marks every line of the workload's that shows it so
// (lookAlike in the agent); readsAsAgent folds such a line's start as the
// agent does, and LogText marks one that shows the prefix only once
// folded, as the agent would have.
const AGENT_LIKE = /^[ \t]*meridian agent:/;
const WORKLOAD_MARK = "(workload) ";
const AGENT_PREFIX = "meridian agent:";

// LOOK_ALIKES are the letters of other scripts and the symbols that
// Unicode's confusables (UTS #39) give as one of the prefix's letters or
// its colon, the agent's own small table: Cyrillic е ҽ г і ӏ ԁ а, Coptic
// ⲅ, Greek ι α, Armenian ո ռ ց, IPA ɑ ɡ ɩ ı ᶃ, Canadian ᑯ, ⍺, ꙇ, and
// colons in other scripts.
const LOOK_ALIKES: Record<string, string> = {
  e: "\u0435\u04bd",
  r: "\u0433\u2c85",
  i: "\u0456\u0131\u03b9\u0269\u04cf\ua647",
  d: "\u0501\u146f",
  a: "\u0430\u0251\u03b1\u237a",
  n: "\u0578\u057c",
  g: "\u0261\u0581\u1d83",
  ":": "\u02d0\u02f8\u0589\u05c3\u0703\u0704\u16ec\u2236\ua789\ua4fd\u205a",
};
const LOOK_ALIKE = new Map<number, string>();
for (const [to, from] of Object.entries(LOOK_ALIKES)) for (const ch of from) LOOK_ALIKE.set(ch.codePointAt(0)!, to);

// HIDDEN matches, where it is set to start, a run of characters drawn as
// nothing or as an accent on the letter before them: combining marks,
// format characters (a zero-width space or joiner, a soft hyphen),
// default-ignorable ones and variation selectors; LEAD a run of those and
// blanks, the line's end aside. One match skips a run of any length.
const HIDDEN = /[\p{Mn}\p{Cf}\p{Default_Ignorable_Code_Point}]*/uy;
const LEAD = /[\p{Mn}\p{Cf}\p{Default_Ignorable_Code_Point}\t\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]*/uy;
const ONE_HIDDEN = /^[\p{Mn}\p{Cf}\p{Default_Ignorable_Code_Point}]$/u;
// MARKS matches a string of combining marks.
const MARKS = /^\p{Mn}*$/u;
const BLANK = /^\s$/u;

// lookAlike is the character of the agent's prefix that ch (code point
// c, not ASCII) is drawn like, " " for a space of any width, "" for one
// drawn as nothing (as HIDDEN), or ch itself. As in the agent, a letter
// whose compatibility form (NFKD) is one of the prefix's with accents at
// most (fullwidth ｍ, mathematical 𝐦, é) folds to it; none in the ranges
// that hold a progress bar's blocks, kana or CJK ideographs does.
function lookAlike(c: number, ch: string): string {
  let f = FOLDED.get(c);
  if (f !== undefined) return f;
  f = LOOK_ALIKE.get(c);
  if (f === undefined) {
    if (ONE_HIDDEN.test(ch)) f = "";
    else if (BLANK.test(ch)) f = " ";
    else if (c < 0xa0 || (c >= 0x2500 && c < 0x2c00) || (c >= 0x3040 && c < 0xa000)) f = ch;
    else {
      const d = ch.normalize("NFKD");
      f = d !== ch && AGENT_PREFIX.includes(d[0]) && d[0] !== " " && MARKS.test(d.slice(1)) ? d[0] : ch;
    }
  }
  if (FOLDED.size < FOLDED_MAX) FOLDED.set(c, f);
  return f;
}

// FOLDED keeps what lookAlike gave for the characters it saw first (a
// line's first character is looked at for every line of the output);
// FOLDED_MAX bounds it.
const FOLDED = new Map<number, string>();
const FOLDED_MAX = 4096;

// readsAsAgent reports whether text, from index i, begins with what is
// drawn as the agent's prefix: after blanks, look-alike letters folded,
// characters drawn as nothing skipped, any blank as its space. It reads
// no further than the prefix's last character, so it costs at most the
// line's length, and most lines are done with at their first character.
export function readsAsAgent(text: string, i = 0): boolean {
  // Most lines begin with a character of ASCII that is neither a blank
  // nor the prefix's first letter: done at once.
  const c0 = text.codePointAt(i);
  if (c0 === undefined) return false;
  if (c0 < 0x80) {
    if (c0 !== 0x6d && c0 !== 0x20 && !(c0 >= 0x09 && c0 <= 0x0d)) return false;
  } else {
    const f0 = lookAlike(c0, String.fromCodePoint(c0));
    if (f0 !== "" && f0 !== " " && f0 !== "m") return false;
  }
  LEAD.lastIndex = i;
  LEAD.test(text);
  i = LEAD.lastIndex;
  for (let k = 0; i < text.length; ) {
    const c = text.codePointAt(i)!;
    const ch = c > 0xffff ? text.slice(i, i + 2) : text[i];
    i += ch.length;
    const f = c < 0x80 ? (c === 0x09 ? " " : ch) : lookAlike(c, ch);
    if (f !== AGENT_PREFIX[k]) return false;
    if (++k === AGENT_PREFIX.length) return true;
    HIDDEN.lastIndex = i;
    HIDDEN.test(text);
    i = HIDDEN.lastIndex;
  }
  return false;
}

// whole is lines (whole lines, each with its LF, as they came: nothing
// drew over them) as the page shows them: each that shows the agent's
// prefix only once folded marked. Only each line's start is read, and
// most lines are done with at their first character.
function whole(lines: string): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < lines.length; ) {
    const j = lines.indexOf("\n", i) + 1;
    if (readsAsAgent(lines, i) && !AGENT_LIKE.test(lines.slice(i, j))) {
      out += lines.slice(from, i) + WORKLOAD_MARK;
      from = i;
    }
    i = j;
  }
  return from ? out + lines.slice(from) : lines;
}

// LogText turns a workload's output, read in pieces of any size, into
// the text the page shows. A terminal would act on the output's escape
// sequences: colours, cursor moves, titles, hyperlinks (OSC 8, whose
// target the text does not show). The page draws none of them, so each
// whole sequence is dropped. A lone ESC, any other control character,
// the bidirectional controls, the characters drawn as nothing and a
// joiner, direction mark or variation selector out of its place are
// shown as markers (line). A sequence
// longer than its bound is not one: the page shows it as text, so output
// cannot hide itself inside an endless one.
//
// Carriage returns are drawn as a terminal draws them, so that a progress
// bar (tqdm and the like) is one line that changes, not a line per update:
// a CR moves back to the start of the line and what follows writes over
// it, cell by cell; CRLF is a plain line end. Erasing in the line (CSI K,
// which bars write after a CR) erases, as it would on a terminal. The line
// being written is not final until its LF: push returns the lines that
// are, and line() is the one being written. A line is WIDTH cells wide at
// most and wraps there as on a terminal that wide, so a CR never reaches
// back further than that and each update costs at most a line's width,
// however long the output's line and however many CRs it holds.
export class LogText {
  private state: "text" | "esc" | "nf" | "csi" | "str" | "strEsc" = "text";
  private seq = ""; // the sequence so far, shown as text if it is not one
  private row: string[] = []; // the line being written, a cell a character
  private col = 0; // where the next character goes in row
  private blank = 0; // row's cells before this one are known to be blank
  private done = ""; // lines finished during this push
  // The line is not the bytes it came as: a sequence was dropped from it
  // or a CR drew over it.
  private altered = false;

  static readonly MAX_CSI = 64;
  static readonly MAX_STR = 4096;
  static readonly WIDTH = 4096;

  // push takes the next piece of the output and returns the lines it
  // finished (each with its LF, or cut at WIDTH).
  push(text: string): string {
    this.done = "";
    let i = 0;
    while (i < text.length) {
      if (this.state === "text") {
        // Most output has nothing to act on: it goes to the line as a
        // run of text, up to the next character that is not plain.
        SPECIAL.lastIndex = i;
        const m = SPECIAL.exec(text);
        const j = m ? m.index : text.length;
        if (j > i) this.plain(text.slice(i, j));
        if (!m) break;
        i = j;
      }
      const c = text.codePointAt(i)!;
      const ch = String.fromCodePoint(c);
      i += ch.length;
      switch (this.state) {
        case "text":
          break;
        case "esc":
          if (c === 0x5b) {
            // ESC [: a control sequence
            this.state = "csi";
            this.seq += ch;
            continue;
          }
          if (c === 0x5d || c === 0x50 || c === 0x58 || c === 0x5e || c === 0x5f) {
            // ESC ] (OSC), P (DCS), X (SOS), ^ (PM), _ (APC): a string
            // that ends with BEL or ESC \
            this.state = "str";
            this.seq += ch;
            continue;
          }
          if (c >= 0x20 && c <= 0x2f) {
            // ESC ( B and the like: intermediates, then a final
            this.state = "nf";
            this.seq += ch;
            continue;
          }
          if (c >= 0x30 && c <= 0x7e) {
            // a two-character escape (ESC 7, ESC c, ESC =)
            this.dropped();
            continue;
          }
          this.abandon();
          break;
        case "nf":
          if (c >= 0x20 && c <= 0x2f && this.seq.length < LogText.MAX_CSI) {
            this.seq += ch;
            continue;
          }
          if (c >= 0x30 && c <= 0x7e) {
            this.dropped();
            continue;
          }
          this.abandon();
          break;
        case "csi":
          if (c >= 0x20 && c <= 0x3f && this.seq.length < LogText.MAX_CSI) {
            this.seq += ch;
            continue;
          }
          if (c >= 0x40 && c <= 0x7e) {
            if (c === 0x4b) this.erase(this.seq.slice(2));
            this.dropped();
            continue;
          }
          this.abandon();
          break;
        case "str":
        case "strEsc":
          if (c === 0x07 || (this.state === "strEsc" && c === 0x5c)) {
            this.dropped();
            continue;
          }
          if (c !== 0x0a && this.seq.length < LogText.MAX_STR) {
            this.state = c === 0x1b ? "strEsc" : "str";
            this.seq += ch;
            continue;
          }
          this.abandon();
          break;
      }
      // Plain text.
      if (c === 0x1b) {
        this.state = "esc";
        this.seq = ch;
        continue;
      }
      if (c === 0x0d) {
        this.col = 0;
        this.altered = true;
        continue;
      }
      if (c === 0x0a) {
        this.newline();
        continue;
      }
      this.put(ch);
    }
    return this.done;
  }

  // line is the line being written, as it stands, each character that
  // the server writes escaped where it is shown as its marker (shown):
  // the controls but tab, the bidirectional controls, the characters
  // drawn as nothing, and a joiner, direction mark or variation selector
  // out of its place. Cells hold the characters as they came, so that
  // whether one of those is in its place is judged by the cells beside it
  // once carriage returns drew over the line. Before, a cell was marked
  // as it was written, and a joiner or direction mark never: one
  // reordered or hid what the operator read ("ad\u200dmin" read as
  // "admin", a right-to-left mark moved the digits beside it).
  line(): string {
    return this.marked(shown(this.row.join("")));
  }

  // marked is text, the line being written, marked when it shows the
  // agent's prefix but is not the agent's: a line that holds the prefix's
  // own characters and was not drawn over is the agent's, or one the
  // agent marked already.
  private marked(text: string): string {
    return readsAsAgent(text) && (this.altered || !AGENT_LIKE.test(text)) ? WORKLOAD_MARK + text : text;
  }

  // end is what is left when the output ends: the line being written,
  // and a sequence it cut off, shown as text.
  end(): string {
    this.done = "";
    this.abandon();
    this.done += this.line();
    this.clearRow();
    return this.done;
  }

  // plain takes text with nothing in it to act on or mark but LFs: its
  // whole lines are finished as they came, and only its first and last,
  // which may share a line with what came before or comes next, go
  // through the cells.
  private plain(text: string): void {
    const first = text.indexOf("\n");
    if (first < 0) {
      this.write(text);
      return;
    }
    const last = text.lastIndexOf("\n");
    this.write(text.slice(0, first));
    this.newline();
    this.done += whole(text.slice(first + 1, last + 1));
    this.write(text.slice(last + 1));
  }

  // write puts text with no control characters in it at the cursor, over
  // what is there, wrapping at the line's width.
  private write(text: string): void {
    if (SURROGATE.test(text)) {
      // a cell a code point
      for (const ch of text) this.put(ch);
      return;
    }
    // a cell a code unit: a width's worth at a time
    const w = LogText.WIDTH;
    for (let i = 0; i < text.length; ) {
      if (this.col >= w) {
        this.done += this.line();
        this.clearRow();
      }
      const n = Math.min(text.length - i, w - this.col);
      const part = text.slice(i, i + n);
      i += n;
      if (this.row.length === 0 && n === w && i < text.length) {
        // a whole line's width, and more after it: it is finished
        this.done += this.marked(part);
        continue;
      }
      if (this.col < this.blank) this.blank = this.col;
      if (this.col === this.row.length) {
        for (const cell of part.split("")) this.row.push(cell);
      } else {
        for (let k = 0; k < n; k++) this.row[this.col + k] = part[k];
      }
      this.col += n;
    }
  }

  // put writes one cell at the cursor, over what is there; at the line's
  // width, the line wraps first.
  private put(cell: string): void {
    if (this.col >= LogText.WIDTH) {
      this.done += this.line();
      this.clearRow();
    }
    if (this.col < this.blank) this.blank = this.col;
    if (this.col < this.row.length) this.row[this.col] = cell;
    else this.row.push(cell);
    this.col++;
  }

  private newline(): void {
    this.done += this.line() + "\n";
    this.clearRow();
  }

  private clearRow(): void {
    this.altered = false;
    this.row = [];
    this.col = 0;
    this.blank = 0;
  }

  // erase is CSI K, erasing in the line: from the cursor to its end (no
  // parameter or 0), from its start to the cursor (1), or all of it (2).
  // The cells before the cursor turn blank; blank marks how many already
  // are, so erasing again costs nothing: each cell is blanked once per
  // time it was written.
  private erase(param: string): void {
    if (param === "" || param === "0" || param === "2") {
      if (this.row.length > this.col) this.row.length = this.col;
    }
    if (param === "1" || param === "2") {
      const to = Math.min(param === "1" ? this.col + 1 : this.col, this.row.length);
      for (let i = this.blank; i < to; i++) this.row[i] = " ";
      if (to > this.blank) this.blank = to;
    }
  }

  // dropped ends a sequence the page does not show.
  private dropped(): void {
    this.state = "text";
    this.seq = "";
    this.altered = true;
  }

  // abandon ends a sequence that turned out not to be one: what was read
  // of it is shown as text.
  private abandon(): void {
    const seq = this.seq;
    this.state = "text";
    this.seq = "";
    for (const ch of seq) this.put(ch);
  }
}
