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

// mark is the character c as the page shows it (itself, or its marker).
// Tab and newline are kept: they are layout, not hidden.
function mark(ch: string): string {
  const c = ch.charCodeAt(0);
  if (c === 0x09 || c === 0x0a) return ch;
  if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || isBidiControl(c)) return marker(c);
  return ch;
}

// SHOWN matches the characters shown() replaces.
const SHOWN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

// shown is s with every bidirectional control and control character
// (but tab and newline) replaced by a visible marker.
export function shown(s: string): string {
  return s.replace(SHOWN, mark);
}

// LogText turns a workload's output, read in pieces of any size, into
// the text the page shows. A terminal would act on the output's escape
// sequences: colours, cursor moves, erasing lines, titles, hyperlinks
// (OSC 8, whose target the text does not show). The page draws none of
// them, so each whole sequence is dropped, and nothing the output wrote
// is hidden by one (a terminal shows a line erased or drawn over; the
// page shows all of it). A lone ESC, any other control character and
// the bidirectional controls are shown as markers (shown()). A carriage
// return starts a new line (a progress bar's updates are lines), CRLF
// is one newline. A sequence longer than its bound is not one: the page
// shows it as text, so output cannot hide itself inside an endless one.
export class LogText {
  private state: "text" | "esc" | "nf" | "csi" | "str" | "strEsc" = "text";
  private seq = ""; // the sequence so far, shown as text if it is not one
  private cr = false; // the last character was a CR

  static readonly MAX_CSI = 64;
  static readonly MAX_STR = 4096;

  push(text: string): string {
    // Most output has nothing to act on: it is shown as it came.
    SHOWN.lastIndex = 0;
    if (this.state === "text" && !this.cr && !SHOWN.test(text)) return text;
    let out = "";
    for (const ch of text) {
      const c = ch.codePointAt(0)!;
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
            this.state = "text";
            this.seq = "";
            continue;
          }
          out += this.abandon();
          break;
        case "nf":
          if (c >= 0x20 && c <= 0x2f && this.seq.length < LogText.MAX_CSI) {
            this.seq += ch;
            continue;
          }
          if (c >= 0x30 && c <= 0x7e) {
            this.state = "text";
            this.seq = "";
            continue;
          }
          out += this.abandon();
          break;
        case "csi":
          if (c >= 0x20 && c <= 0x3f && this.seq.length < LogText.MAX_CSI) {
            this.seq += ch;
            continue;
          }
          if (c >= 0x40 && c <= 0x7e) {
            this.state = "text";
            this.seq = "";
            continue;
          }
          out += this.abandon();
          break;
        case "str":
        case "strEsc":
          if (c === 0x07 || (this.state === "strEsc" && c === 0x5c)) {
            this.state = "text";
            this.seq = "";
            continue;
          }
          if (c !== 0x0a && this.seq.length < LogText.MAX_STR) {
            this.state = c === 0x1b ? "strEsc" : "str";
            this.seq += ch;
            continue;
          }
          out += this.abandon();
          break;
      }
      // Plain text.
      if (c === 0x1b) {
        this.state = "esc";
        this.seq = ch;
        continue;
      }
      if (c === 0x0d) {
        out += "\n";
        this.cr = true;
        continue;
      }
      if (c === 0x0a && this.cr) {
        this.cr = false;
        continue;
      }
      this.cr = false;
      out += c <= 0xffff ? mark(ch) : ch;
    }
    return out;
  }

  // end is what is left when the output ends: a sequence it cut off is
  // shown as text.
  end(): string {
    return this.abandon();
  }

  // abandon ends a sequence that turned out not to be one: what was read
  // of it is shown as text.
  private abandon(): string {
    const s = shown(this.seq);
    this.state = "text";
    this.seq = "";
    return s;
  }
}
