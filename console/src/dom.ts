// Small DOM helpers: elements are built with properties and text, never
// from HTML strings, so no API answer can inject markup. Text, and the
// title and aria-label attributes, go through shown(): a bidirectional
// control or control character in an answer is shown, not obeyed.

import { shown } from "./terminal";
import { FieldError } from "./api";

type Attrs = Record<string, string | number | boolean | undefined | null | EventListener>;
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVGNS = "http://www.w3.org/2000/svg";

export function s(tag: string, attrs: Attrs = {}, ...children: Child[]): SVGElement {
  const el = document.createElementNS(SVGNS, tag) as SVGElement;
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

// textOf is a value as text, as String() writes it, without throwing:
// String() (and a template string) calls an object's own toString, and
// an answer's JSON can set that to what is not a function
// ({"toString": 1}); String() threw, and the part of the page being drawn
// showed the script's own error, or stopped. Such a value is shown as its
// JSON.
export function textOf(v: unknown): string {
  try {
    return String(v);
  } catch {
    try {
      return JSON.stringify(v) ?? "";
    } catch {
      return "(a value the page cannot show)";
    }
  }
}

// textOr is a value of the server's as text for a line the page writes
// itself (a template string, a concatenation), or missing when it is
// absent (undefined or null). Written into a template as they came, an
// absent value read "undefined" or "null", and an object whose toString
// is not a function threw, so that the row, event or result it was in
// showed the script's own error ("Cannot convert object to primitive
// value") instead of what the server said.
export function textOr(v: unknown, missing = "–"): string {
  return v === undefined || v === null ? missing : textOf(v);
}

function setAttrs(el: Element, attrs: Attrs): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v as EventListener);
    } else if (k === "text") {
      el.textContent = shown(textOf(v));
    } else if (k === "title" || k === "aria-label") {
      el.setAttribute(k, shown(textOf(v)));
    } else {
      el.setAttribute(k, v === true ? "" : textOf(v));
    }
  }
}

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(isNode(c) ? c : shown(textOf(c)));
  }
}

// isNode says whether a child is an element or text node the page made,
// not a value of the server's: what JSON gives (a list, an object) is
// shown as text, through shown(). Before, a field the page took for text
// that came as a list (["…"]) was handed to append as it was, and the
// browser wrote it out without the markers for its bidirectional
// controls.
function isNode(c: unknown): c is Node {
  return typeof c === "object" && c !== null && !Array.isArray(c) && Object.getPrototypeOf(c) !== Object.prototype;
}

// classWord is a word of the server's (a run's state, a rule's effect)
// fit to end a class name: letters, digits, hyphens and underscores only,
// else "other". Joined as it came, a state of "running visually-hidden"
// added the page's own class to the element, which hid the state.
export function classWord(s: unknown): string {
  return typeof s === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(s) ? s : "other";
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

// The formats are made once: toLocaleString with options makes one for
// every number, which for a plan's every placement took seconds.
const USD_CENTS = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
const USD_WHOLE = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

// The formats show "–" for what is not a number: text ("12") passes
// isFinite, and toFixed on it threw.
export function fmtUSD(v: number): string {
  if (typeof v !== "number" || !isFinite(v)) return "–";
  return "$" + (v < 100 ? USD_CENTS : USD_WHOLE).format(v);
}

export function fmtHours(v: number): string {
  if (typeof v !== "number" || !isFinite(v)) return "–";
  if (v < 48) return v.toFixed(1) + " h";
  return (v / 24).toFixed(1) + " d";
}

export function fmtBytes(n: number | undefined): string {
  if (typeof n !== "number" || !isFinite(n)) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + " " + u[i];
}

export function errorBox(err: unknown): HTMLElement {
  const msg = err instanceof Error ? err.message : String(err);
  return h("p", { class: "error", role: "alert", text: msg });
}

// table builds an accessible table: a caption, column headers and rows.
// The rows are appended one by one: as arguments of one call, a plan's
// hundred thousand rows would overflow the stack.
export function table(caption: string, head: string[], rows: Child[][], attrs: Attrs = {}): HTMLTableElement {
  const body = h("tbody");
  for (const r of rows) body.append(tableRow(r));
  return h("table", attrs, h("caption", { text: caption }), h("thead", {}, h("tr", {}, ...head.map((c) => h("th", { scope: "col", text: c })))), body);
}

// tableRow is a table's row of cells.
export function tableRow(cells: Child[]): HTMLTableRowElement {
  return h("tr", {}, ...cells.map((c) => h("td", {}, c)));
}

// PROBLEMS_SHOWN is how many of a part's problems are listed (the rest
// are counted).
const PROBLEMS_SHOWN = 10;

// Problems is the line of a part of a page that says what of the server's
// answer it could not show and why (a field missing or of another type:
// runs[3].createdAt is a number, not text), while the part shows the rest.
// Before, one such field threw, and the part, or the whole page, stopped.
export class Problems {
  readonly box: HTMLElement;
  private lines: string[] = [];
  private more = 0;

  constructor(id?: string) {
    this.box = h("div", { class: "problems", id, "aria-live": "polite" });
  }

  // add says what could not be shown (what: "run 3") and why.
  add(what: string, err: unknown): void {
    const why = err instanceof Error ? err.message : String(err);
    const line = `${what} is not shown: ${err instanceof FieldError ? "in the server's answer, " + why : why}.`;
    if (this.lines.includes(line)) return;
    if (this.lines.length >= PROBLEMS_SHOWN) {
      this.more++;
    } else {
      this.lines.push(line);
      this.box.append(h("p", { class: "error", role: "alert", text: line }));
    }
    if (this.more) {
      const last = this.box.lastChild as HTMLElement | null;
      const tail = `…and ${this.more} more not shown.`;
      if (last && last.getAttribute && last.getAttribute("data-more") === "1") last.textContent = tail;
      else this.box.append(h("p", { class: "error", "data-more": "1", text: tail }));
    }
  }

  // each is what render makes of each item that it can; the others are
  // added, as what(i) says of them.
  each<T, R>(items: T[], what: (x: T, i: number) => string, render: (x: T, i: number) => R): R[] {
    const out: R[] = [];
    items.forEach((x, i) => {
      try {
        out.push(render(x, i));
      } catch (err) {
        this.add(what(x, i), err);
      }
    });
    return out;
  }

  // reset forgets the problems (the part is drawn again).
  reset(): void {
    this.lines = [];
    this.more = 0;
    clear(this.box);
  }
}
