// The API client: every call carries the bearer token from session storage
// in the Authorization header. No cookie is ever sent (credentials: omit),
// so another site cannot make the browser call the API for the user.

import { nameShown } from "./terminal";

const KEY = "meridian.token";

export function token(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setToken(t: string): void {
  sessionStorage.setItem(KEY, t.trim());
}

// clearToken forgets the token and everything else the tab kept (the job
// the plan page was given): whoever signs in next in this tab, after a
// sign-out or a token the server no longer takes, may be another tenant.
export function clearToken(): void {
  sessionStorage.clear();
}

export class ApiError extends Error {
  constructor(public status: number, message: string, public field = "") {
    super(message);
  }
}

// FieldError is the error of an answer with a field missing, or of
// another type than the page reads: it names the field (runs[3].createdAt)
// and what it is. The pages check the fields they cannot show otherwise
// (a list they go through, a text they cut, a number they compute with),
// show what else the answer holds, and say, in a line of their own, what
// they could not show and why.
export class FieldError extends ApiError {
  constructor(field: string, want: string, got: unknown) {
    super(0, `${field} is ${got === undefined || got === null ? "missing" : kindOf(got)}, not ${want}`, field);
  }
}

function kindOf(v: unknown): string {
  if (Array.isArray(v)) return "a list";
  if (typeof v === "string") return "text";
  if (typeof v === "object") return "an object";
  return "a " + typeof v;
}

// pathPart is id (a run's, a dataset's) as one segment of an API path,
// percent-encoded, or an ApiError naming what and why: "." and "..",
// which the browser takes out of the path it is given (/v1/runs/.. is
// /v1/, /v1/runs/../cancel is /v1/cancel), so that a link's #/plan?run=..
// made the page ask another route than the run's; "" (no segment); text
// that cannot be encoded (a lone surrogate, on which encodeURIComponent
// throws). A slash, "?" or "#" is encoded and stays in the segment.
export function pathPart(id: unknown, what: string): string {
  if (typeof id !== "string") throw new FieldError(what, "text", id);
  if (id === "" || id === "." || id === "..") throw new ApiError(0, `${what} ${JSON.stringify(id)} names nothing the console can ask for: a name cannot be empty, "." or ".."`, what);
  try {
    return encodeURIComponent(id);
  } catch {
    // The id is quoted as JSON writes it (the half character as \uD800),
    // bounded and marked as a heading shows a name: it may be a
    // server's answer of any length.
    throw new ApiError(0, `${what} ${nameShown(JSON.stringify(id))} is not text the console can send (it holds half of a character)`, what);
  }
}

// listAt is v if it is a list, [] if it is missing or null, and else a
// FieldError naming field.
export function listAt<T>(v: unknown, field: string): T[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new FieldError(field, "a list", v);
  return v as T[];
}

// textAt is v if it is text, else a FieldError naming field.
export function textAt(v: unknown, field: string): string {
  if (typeof v !== "string") throw new FieldError(field, "text", v);
  return v;
}

// numAt is v if it is a finite number, else a FieldError naming field.
export function numAt(v: unknown, field: string): number {
  if (typeof v !== "number" || !isFinite(v)) throw new FieldError(field, "a number", v);
  return v;
}

// objAt is v if it is an object (not a list), else a FieldError naming
// field.
export function objAt(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new FieldError(field, "an object", v);
  return v as Record<string, unknown>;
}

// siteAt checks a catalog site where the pages compute with it: its name,
// country and place.
export function siteAt(v: unknown, field: string): Site {
  const x = objAt(v, field);
  textAt(objAt(x.metadata, field + ".metadata").name, field + ".metadata.name");
  const spec = objAt(x.spec, field + ".spec");
  textAt(spec.country, field + ".spec.country");
  const loc = objAt(spec.location, field + ".spec.location");
  numAt(loc.lat, field + ".spec.location.lat");
  numAt(loc.lon, field + ".spec.location.lon");
  return v as Site;
}

function headers(json: boolean): Headers {
  const h = new Headers();
  const t = token();
  if (t) h.set("Authorization", "Bearer " + t);
  if (json) h.set("Content-Type", "application/json");
  return h;
}

async function failure(r: Response): Promise<ApiError> {
  let msg = r.statusText || "request failed";
  let field = "";
  try {
    const j = JSON.parse(await readBounded(r, ERROR_MAX_ANSWER));
    if (j && j.error) {
      if (typeof j.error.message === "string" && j.error.message) msg = j.error.message;
      if (typeof j.error.field === "string") field = j.error.field;
    }
  } catch {
    // not JSON, or longer than an error is: keep the status text
  }
  if (r.status === 401) {
    clearToken();
    window.dispatchEvent(new Event("meridian-unauthorized"));
  }
  return new ApiError(r.status, (field ? field + ": " : "") + msg, field);
}

// RETRY_TRIES is how many times a plain read (a GET answered whole) is
// asked while the server answers it 429 (a tenant's rate, the log reads
// under way); RETRY_WAIT_MIN and RETRY_WAIT_MAX bound the wait before the
// next, in ms, which Retry-After gives. A page's reads were shown as
// failed at the first 429, though the server said when to ask again: a
// tenant whose CLI used the rate had every page of the console fail. A
// write (a plan, a cancel) is never asked twice: the tenant does that.
export const RETRY_TRIES = 3;
export const RETRY_WAIT_MIN = 1000;
export const RETRY_WAIT_MAX = 10_000;

// retryWait is the wait a 429's Retry-After asks for (seconds, or an
// HTTP date), in ms, at least RETRY_WAIT_MIN; a missing or unreadable one
// waits RETRY_WAIT_MIN. One longer than RETRY_WAIT_MAX is null: the read
// is not asked again, and its 429 is shown. Before, it was asked again
// after RETRY_WAIT_MAX, sooner than the server had said.
export function retryWait(v: string | null, now = Date.now()): number | null {
  let ms = NaN;
  if (v !== null && /^\s*\d+\s*$/.test(v)) ms = Number(v) * 1000;
  else if (v) ms = Date.parse(v) - now;
  if (!isFinite(ms)) ms = RETRY_WAIT_MIN;
  return ms > RETRY_WAIT_MAX ? null : Math.max(ms, RETRY_WAIT_MIN);
}

// sleep resolves after ms, or rejects (AbortError) once signal aborts.
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const aborted = () => reject(signal && signal.reason !== undefined ? signal.reason : new DOMException("the read was stopped", "AbortError"));
    if (signal && signal.aborted) return aborted();
    let t: ReturnType<typeof setTimeout> | undefined;
    const stop = () => {
      clearTimeout(t);
      aborted();
    };
    if (signal) signal.addEventListener("abort", stop, { once: true });
    t = setTimeout(() => {
      if (signal) signal.removeEventListener("abort", stop);
      resolve();
    }, ms);
  });
}

// fetchRetrying is fetch for a plain read: an answer of 429 is asked
// again after its Retry-After (retryWait), up to RETRY_TRIES asks in all;
// the last answer, 429 or not, is the caller's to read or show.
async function fetchRetrying(path: string, init: RequestInit, signal?: AbortSignal): Promise<Response> {
  for (let tries = 1; ; tries++) {
    const r = await fetch(path, init);
    if (r.status !== 429 || tries >= RETRY_TRIES) return r;
    const wait = retryWait(r.headers.get("Retry-After"));
    if (wait === null) return r;
    if (r.body) r.body.cancel().catch(() => undefined);
    await sleep(wait, signal);
  }
}

// API_MAX_ANSWER bounds, in bytes, the one answer the console reads
// whole (every call; not the logs or event streams, which it reads a piece
// at a time). The server's largest pages are well inside it: a page of
// runs is cut at 8 MiB, a page of audit entries once its payloads reach
// 16 MiB. A longer answer is refused with an error that says so, never
// read on: a server, or anything between it and the page, that answered
// without end would otherwise have the tab hold all of it until it runs
// out of memory. ERROR_MAX_ANSWER bounds an error's answer (a message and
// a field), past which the page keeps the status text.
export const API_MAX_ANSWER = 32 << 20;
export const ERROR_MAX_ANSWER = 64 << 10;

// AnswerTooLarge is the error of an answer longer than the page reads.
export class AnswerTooLarge extends ApiError {
  constructor(status: number, max: number) {
    super(status, `the server's answer is longer than the console reads (${max >> 20 ? (max >> 20) + " MiB" : (max >> 10) + " KiB"}); it was not read`);
  }
}

// readBounded reads an answer's body as text, refusing (AnswerTooLarge) one
// longer than max bytes: one whose Content-Length says so before a byte is
// read, else as soon as the bytes read pass max, and the rest is not read.
export async function readBounded(r: Response, max: number): Promise<string> {
  const declared = Number(r.headers.get("Content-Length"));
  if (isFinite(declared) && declared > max) {
    if (r.body) r.body.cancel().catch(() => undefined);
    throw new AnswerTooLarge(r.status, max);
  }
  if (!r.body) return "";
  const reader = r.body.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > max) {
      reader.cancel().catch(() => undefined);
      throw new AnswerTooLarge(r.status, max);
    }
    parts.push(value);
  }
  const all = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new TextDecoder().decode(all);
}

export async function call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  return (await callSized<T>(method, path, body, signal)).value;
}

// readOnce is call's GET of path asked once: a 429 is its error at once,
// never asked again. A poll reads with it: the poll asks again at its
// next tick, and a read it retried ran on past that tick (three asks,
// two waits of a second or more), so the page asked the server that
// refused it about three times as often as it polls.
export async function readOnce<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await callSized<T>("GET", path, undefined, signal, false)).value;
}

// callSized is call's answer and its size, the length of its text: what
// a page that keeps answers counts them by. A GET answered 429 is asked
// again (fetchRetrying) unless retry is false.
export async function callSized<T>(method: string, path: string, body?: unknown, signal?: AbortSignal, retry = true): Promise<{ value: T; size: number }> {
  const init: RequestInit = {
    method,
    headers: headers(body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
    signal,
  };
  const r = method === "GET" && retry ? await fetchRetrying(path, init, signal) : await fetch(path, init);
  if (!r.ok) throw await failure(r);
  const text = await readBounded(r, API_MAX_ANSWER);
  let value: T;
  try {
    value = JSON.parse(text) as T;
  } catch {
    throw new ApiError(r.status, "the server's answer is not JSON");
  }
  return { value, size: text.length };
}

// RUN_PAGE is how many runs a page of the runs list holds: as many as the
// first page of the list's stream (the server may end a page sooner).
export const RUN_PAGE = 1000;

// readRunPage reads one page of the tenant's runs: those after run after
// (from the newest with ""), and next, the after= of the page that follows
// ("" when none does). A poll's read passes retry false (readOnce).
export async function readRunPage(after: string, retry = true): Promise<{ runs: Run[]; next: string }> {
  const path = `/v1/runs?limit=${RUN_PAGE}` + (after ? "&after=" + encodeURIComponent(after) : "");
  const r = objAt((await callSized<unknown>("GET", path, undefined, undefined, retry)).value, "the answer");
  const runs = listAt<Run>(r.runs, "runs");
  const next = r.next === undefined || r.next === null ? "" : textAt(r.next, "next");
  // A next that names the page itself would offer the same page for ever.
  if (next && next === after) throw new ApiError(0, "the server named the page after run " + after + " as its own next", "");
  return { runs, next };
}

// logSize is the size in bytes of a run's output so far (the X-Log-Size
// of a one-byte page of it); runPath is the run's /v1/runs/ID.
export async function logSize(runPath: string, signal: AbortSignal): Promise<number> {
  const r = await fetchRetrying(runPath + "/logs?limit=1", { headers: headers(false), credentials: "omit", cache: "no-store", signal }, signal);
  if (!r.ok) throw await failure(r);
  await readBounded(r, API_MAX_ANSWER);
  const n = Number(r.headers.get("X-Log-Size"));
  return isFinite(n) && n > 0 ? n : 0;
}

// stream reads a streamed answer (a run's logs with follow=1) chunk by
// chunk until it ends or signal aborts it.
export async function stream(path: string, onText: (s: string) => void, signal: AbortSignal): Promise<void> {
  const r = await fetch(path, { headers: headers(false), credentials: "omit", cache: "no-store", signal });
  if (!r.ok) throw await failure(r);
  if (!r.body) return;
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    onText(dec.decode(value, { stream: true }));
  }
  // The decoder holds the bytes of a character not yet whole: at the end
  // they are all there will be, shown as U+FFFD rather than dropped.
  const tail = dec.decode();
  if (tail) onText(tail);
}

// RETRY_MIN and RETRY_MAX bound the reconnection delay an event stream's
// retry field may ask for, in ms.
export const RETRY_MIN = 1000;
export const RETRY_MAX = 5 * 60 * 1000;

// SSEMessage is one server-sent event.
export interface SSEMessage {
  id: string;
  event: string;
  data: string;
}

// SSE_MAX_EVENT bounds, in characters, one line of an event stream and the
// fields of one event together. The server's largest event, the tenant's
// runs list (a page of at most 8 MiB of JSON), is well inside it; an event
// or line past it is dropped, not held: a server, or anything between it
// and the page, that sent one event without end would otherwise have the
// page hold all of it until the tab runs out of memory.
export const SSE_MAX_EVENT = 16 << 20;

// SSEParser splits an event stream (the WHATWG format: lines end in LF,
// CRLF or CR; data, event, id and retry fields; ":" starts a comment) into
// events. push takes the text as it arrives, in pieces of any size; each
// piece is looked at once, so an event that comes in many pieces costs as
// much as its size, not its size times the number of pieces. It holds at
// most about max characters: an event whose fields pass max is dropped
// (onDrop is told once its end comes), a comment line past it is skipped.
export class SSEParser {
  // the line not yet ended, as its pieces came, and its length
  private partial: string[] = [];
  private partialLen = 0;
  // the line not yet ended passed max: the rest of it is not kept
  private skipLine = false;
  // the last piece ended in a CR: a LF starting the next one is its CRLF
  private afterCR = false;
  private data: string[] = [];
  private event = "";
  private id = "";
  // size counts the characters of the event's field lines so far;
  // dropping says the event passed max and is being skipped to its end.
  private size = 0;
  private dropping = false;
  // lastId is the last id field seen (it carries over events without one,
  // as the format says); retry is the reconnection delay asked for, in ms,
  // held to RETRY_MIN .. RETRY_MAX (0 until a retry field comes).
  lastId = "";
  retry = 0;
  // scanned counts the characters looked at for line ends: what push has
  // cost, which stays the length of the text pushed.
  scanned = 0;
  // dropped counts the events dropped for passing max; peak is the most
  // characters the parser held at once.
  dropped = 0;
  peak = 0;

  constructor(
    private onEvent: (m: SSEMessage) => void,
    private onDrop?: () => void,
    private max = SSE_MAX_EVENT,
  ) {}

  push(text: string): void {
    if (text === "") return;
    let from = 0;
    if (this.afterCR) {
      this.afterCR = false;
      if (text[0] === "\n") from = 1;
    }
    const eol = /[\r\n]/g;
    for (;;) {
      eol.lastIndex = from;
      const m = eol.exec(text);
      const end = m ? m.index : text.length;
      this.scanned += end - from + (m ? 1 : 0);
      // The line so far (its pieces before and this one) is checked
      // against max before it is kept or joined.
      if (!this.skipLine && end > from && this.over(this.partialLen + end - from, this.partial.length > 0 ? this.partial[0][0] : text[from])) {
        this.partial = [];
        this.partialLen = 0;
        this.skipLine = true;
      }
      if (!m) break;
      let l = "";
      let skipped = this.skipLine;
      if (!skipped) {
        l = text.slice(from, end);
        if (this.partial.length > 0) {
          this.partial.push(l);
          l = this.partial.join("");
          this.partial = [];
          this.partialLen = 0;
        }
      }
      this.skipLine = false;
      from = end + 1;
      if (text[end] === "\r") {
        // A CR ends the line now; a LF after it, here or first in the
        // next piece, is the same line end.
        if (from === text.length) this.afterCR = true;
        else if (text[from] === "\n") from++;
      }
      if (!skipped) this.line(l);
    }
    if (from < text.length && !this.skipLine) {
      this.partial.push(text.slice(from));
      this.partialLen += text.length - from;
      this.peak = Math.max(this.peak, this.size + this.partialLen);
    }
  }

  // over says whether a line of n characters, starting with first, passes
  // max (a field line: with the event's fields before it); when it does,
  // a field line's event is dropped.
  private over(n: number, first: string): boolean {
    if (first === ":") return n > this.max;
    if (this.dropping) return n > this.max;
    if (this.size + n <= this.max) return false;
    this.dropping = true;
    this.data = [];
    this.event = "";
    this.size = 0;
    return true;
  }

  private line(l: string): void {
    if (l === "") {
      if (this.dropping) {
        this.dropping = false;
        this.dropped++;
        if (this.onDrop) this.onDrop();
      } else if (this.data.length > 0) {
        this.onEvent({ id: this.lastId, event: this.event || "message", data: this.data.join("\n") });
      }
      this.data = [];
      this.event = "";
      this.size = 0;
      return;
    }
    if (l[0] === ":") return; // a comment: the server's heartbeat
    const i = l.indexOf(":");
    const field = i < 0 ? l : l.slice(0, i);
    let value = i < 0 ? "" : l.slice(i + 1);
    if (value[0] === " ") value = value.slice(1);
    // A dropped event's id and retry still count (its id is where a
    // reconnect resumes, past it, not at it again); its data and event
    // are not kept.
    if (!this.dropping) this.size += l.length + 1;
    switch (field) {
      case "data":
        if (!this.dropping) this.data.push(value);
        break;
      case "event":
        if (!this.dropping) this.event = value;
        break;
      case "id":
        if (!value.includes("\0")) this.lastId = value;
        break;
      case "retry":
        // A server asking for 1 ms would have every page reconnect in a
        // storm, and a delay past 2^31 ms fires at once in a browser.
        if (/^\d+$/.test(value)) this.retry = Math.min(Math.max(Number(value), RETRY_MIN), RETRY_MAX);
        break;
    }
    this.peak = Math.max(this.peak, this.size);
  }
}

// events reads a server-sent event stream until it ends or signal aborts
// it, calling onEvent for each event; it resolves when the server closes
// the stream. It uses fetch, not EventSource, because EventSource cannot
// send the token in an Authorization header. lastId resumes the stream
// after that event (Last-Event-ID). onOpen is told once the stream is
// open; onDrop each time an event past SSE_MAX_EVENT is dropped.
export async function events(path: string, lastId: string, onEvent: (m: SSEMessage) => void, signal: AbortSignal, onOpen?: () => void, onDrop?: () => void): Promise<SSEParser> {
  const hs = headers(false);
  hs.set("Accept", "text/event-stream");
  if (lastId) hs.set("Last-Event-ID", lastId);
  const r = await fetch(path, { headers: hs, credentials: "omit", cache: "no-store", signal });
  if (!r.ok) throw await failure(r);
  if (!r.body || !(r.headers.get("Content-Type") || "").startsWith("text/event-stream")) throw new ApiError(r.status, "the server did not answer with an event stream");
  const p = new SSEParser(onEvent, onDrop);
  p.lastId = lastId;
  if (onOpen) onOpen();
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    p.push(dec.decode(value, { stream: true }));
  }
  p.push(dec.decode()); // an event the stream cut off is dropped, as the format says
  return p;
}

// Types of the API's answers (the fields the console reads).

export interface Finding {
  rule: string;
  kind?: string;
  effect?: string;
  message: string;
  source: string;
  confidence?: string;
}

export interface Placement {
  rank: number;
  site: string;
  country: string;
  accelerator: string;
  count: number;
  hours: number;
  costUSD: number;
  pareto: boolean;
  lawfulUntil: string | null;
  lawfulUntilRule?: string;
  obligations: Finding[] | null;
  advisories: Finding[] | null;
  runnable: boolean;
}

export interface Rejection {
  site: string;
  country: string;
  accelerator: string;
  kind: string;
  reasons: Finding[] | null;
  resolution: string;
  candidates: number;
}

export interface Plan {
  job: string;
  asOf: string;
  placements: Placement[] | null;
  rejected: Rejection[] | null;
  summary: {
    candidates: number;
    placements: number;
    objective: string;
    rejectedByKind: Record<string, number> | null;
    rejectedByRule: Record<string, number> | null;
    costOfSovereignty?: {
      constraints: string[];
      with?: { site: string; accelerator: string; costUSD: number; hours: number } | null;
      without?: { site: string; accelerator: string; costUSD: number; hours: number } | null;
      extraCostUSD?: number;
      extraHours?: number;
    };
  };
  assumptions: string[] | null;
  explain?: Explanation;
}

export interface Explanation {
  site: string;
  country: string;
  operator: string;
  operatorHeadquarters: string;
  source: string;
  excluded?: boolean;
  steps: { pool: number; accelerator: string; count?: number; check: string; passed: boolean; detail?: string; findings?: Finding[] | null }[] | null;
  horizons?: { pool: number; accelerator: string; count: number; lawfulUntil: string; rule: string }[] | null;
}

export interface Site {
  metadata: { name: string };
  spec: { country: string; city?: string; location: { lat: number; lon: number }; operator: { name: string; headquarters: string } };
}

export interface Country {
  iso: string;
  name: string;
}

export interface Document {
  name: string;
  content: string;
}

export interface Run {
  id: string;
  tenant: string;
  job: string;
  state: string;
  site: string;
  attempt: number;
  createdAt: string;
  updatedAt: string;
  documents?: Document[];
  asOf?: string;
  placement?: Placement;
  attempts?: { n: number; site: string; exit?: number }[];
  progress?: { step: number; loss: number; tokensPerS: number };
  migration?: { from: string; reason: string; rule?: string };
  cancelRequested?: boolean;
  reason?: string;
}

export interface RunEvent {
  seq: number;
  time: string;
  kind: string;
  from?: string;
  to?: string;
  reason?: string;
}

export interface LedgerRow {
  seq: number;
  time: string;
  kind?: string;
  dataset: string;
  site: string;
  from: string;
  to: string;
  fromSite?: string;
  basis?: string;
  rules: string[] | null;
  asOf: string;
  runId?: string;
  bytes?: number;
  bytesSent?: number;
  chunks?: number;
  chunksSent?: number;
  complete?: boolean;
  reconciled?: boolean;
}

export interface Ledger {
  entries: LedgerRow[] | null;
  totals: Record<string, unknown>[] | null;
  next?: number;
}

export interface DatasetInfo {
  name: string;
  [k: string]: unknown;
}

export interface AuditEntry {
  seq: number;
  time: string;
  kind: string;
  runId?: string;
  tenant?: string;
  payload?: unknown;
  hash: string;
  redacted?: boolean;
}

export interface AuditProblem {
  seq: number;
  kind: string;
  detail: string;
  found?: Record<string, unknown>;
}

export interface AuditAnchor {
  seq: number;
  head: string;
  time: string;
  key: string;
  sig: string;
}

export interface AuditResult {
  entries: number;
  head: string;
  ok: boolean;
  problem?: AuditProblem;
  // anchored is the anchor the chain was checked against; on a result
  // that does not verify, the one the anchor directory holds, which then
  // vouches for nothing (it may have been planted there).
  anchored?: AuditAnchor;
  // anchorProblem, beside a break of the chain (problem), is what the
  // anchor check found too (truncated, diverged, anchor-missing,
  // anchor-replaced); cutSeq is the N with which a start accepts both
  // (serve --accept-broken-audit --accept-audit-cut N), absent from a
  // server that does not send it.
  anchorProblem?: AuditProblem;
  cutSeq?: number;
  anchorKeySeq?: number;
  // unproven, on a chain that verifies, says what the check could not
  // show (a log naming no anchor key may have been cut back); unkeyed,
  // that the entries' contents were not checked.
  unproven?: string;
  unkeyed?: boolean;
  // accepted are breaks the operator accepted, which the check went past
  // (the first of them; acceptedCount counts all).
  accepted?: { problem: AuditProblem; at: number }[] | null;
  acceptedCount?: number;
}

export interface RuleEntry {
  id: string;
  kind: string;
  jurisdiction: string;
  effect: string;
  confidence: string;
  state: string;
  active: boolean;
  effectiveFrom: string;
  effectiveUntil?: string;
  title?: string;
  source: string;
  sources: string[];
  enforcement: { state: string; from?: string; until?: string }[];
}

export interface RuleRevision {
  revision: number;
  by: string;
  reason: string;
  time: string;
  files: string[];
  // witnessed: whether a sealed audit record vouches for the revision;
  // false, with unwitnessed saying why, for a row written or changed
  // outside Meridian (never law, or not who or why it says). Absent where
  // the server checks its revisions against no log.
  witnessed?: boolean;
  unwitnessed?: string;
}

// StreamFailed is the error a stream ended on (its last event, "error",
// carries it as an error answer does: {"error":{"code","message"}}). again
// says whether the page opens the stream again (after wait ms) or stopped
// it for good (the error will not pass by itself).
export class StreamFailed extends ApiError {
  constructor(public code: string, message: string, public again: boolean, public wait: number) {
    super(0, message);
  }
}

// STREAM_ERROR_SHOWN bounds, in characters, the server's message a
// stream's error event brings that the page shows.
export const STREAM_ERROR_SHOWN = 2000;

// PASSING_CODES are the error codes of a stream's error event that may
// pass (a fault of the server's, a deadline, a shutdown): the page opens
// the stream again, later each time. Any other code (too_many: more rows
// than the store reads; forbidden; one the console does not know) would
// meet the same error again: the stream is not opened again.
const PASSING_CODES = new Set(["internal", "unavailable", "timeout", "shutting_down", "canceled", "rules_changing", "law_unavailable"]);

// streamError reads the data of a stream's error event: its code and
// message (bounded, as the server's text is not trusted), or what the data
// lacks.
export function streamError(data: string): { code: string; message: string } {
  let e: Record<string, unknown>;
  try {
    e = objAt(objAt(JSON.parse(data), "the error event").error, "the error event's error");
  } catch (err) {
    return { code: "", message: `the server did not say which (its error event is not an error answer: ${(err as Error).message})` };
  }
  const code = typeof e.code === "string" ? nameShown(e.code) : "";
  const message = typeof e.message === "string" && e.message ? e.message : "the server did not say which";
  return { code, message: nameShown(message, STREAM_ERROR_SHOWN) };
}

// Follower is a stream followed by followOrPoll.
export interface Follower {
  // polling says whether the page is polling now (it has no stream).
  polling(): boolean;
  // stopPolling stops the poll until the stream breaks again.
  stopPolling(): void;
  // stop ends the stream and the poll for good.
  stop(): void;
  // pollNow polls once more (with run, or the poll) once the poll under
  // way, if one is, has ended: a page that must read now (a cancel asked
  // for, another page of the list) never reads beside the poll. It
  // resolves when that poll has ended.
  pollNow(run?: () => void | Promise<void>): Promise<void>;
}

// followOrPoll keeps the event stream at path open, and polls while it
// cannot: poll runs at once and every `every` ms until the stream opens.
// When the stream breaks or is refused for now (429: the tenant's streams
// are all taken; 503: the server is shutting down; a network error) the
// poll resumes and the stream is tried again after the server's retry
// time, then each time twice as long, up to 30 s. After any other 4xx only
// the poll runs (it shows the error: a run that is not there, a token no
// longer valid). done, when it says true, ends the retries (the stream
// said it was over); onMode tells whether the page streams or polls.
// A stream that ends on an "error" event is told to onFailed (a
// StreamFailed): for a passing error the stream is opened again after the
// retry time at least, twice as long after each error in a row, up to
// 30 s (or the server's retry, if longer); for any other only the poll
// runs. Before, the page opened the stream again as after a cut, and said
// nothing.
// An event the stream drops as too long (SSE_MAX_EVENT) is told to
// onDropped, and the page is polled once, as the poll reads what the
// event would have brought.
// A tick of the poll while the last poll is still under way starts none:
// before, each tick started a poll whether or not the last had ended, so
// a server slow to answer, or refusing (429) reads that were retried for
// longer than a tick, had polls overlap, asking it more the less it
// answered, and a poll that ended after a later one showed the older
// state (the run page's timeline read after lastSeq as a later poll
// moved it).
export function followOrPoll(o: {
  path: string;
  lastId: () => string;
  onEvent: (m: SSEMessage) => void;
  poll: () => void | Promise<void>;
  every: number;
  done?: () => boolean;
  onMode?: (streaming: boolean) => void;
  onDropped?: () => void;
  onFailed?: (err: StreamFailed) => void;
}): Follower {
  let alive = true;
  let timer = 0;
  let retry = o.every;
  // errWait is the wait after the last stream that ended on an error
  // event, 0 after one that did not.
  let errWait = 0;
  const ctl = new AbortController();
  const over = () => !alive || (o.done ? o.done() : false);
  // running is the poll under way, null when none is; queued the one
  // pollNow asked for after it.
  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;
  // pollWith starts run now (its first read goes out before pollWith
  // returns) and keeps it as running until it ends.
  function pollWith(run: () => void | Promise<void>): Promise<void> {
    let p: Promise<void>;
    try {
      p = Promise.resolve(run());
    } catch (err) {
      p = Promise.reject(err);
    }
    const mine: Promise<void> = p.finally(() => {
      if (running === mine) running = null;
    });
    running = mine;
    return mine;
  }
  function tick(): void {
    if (!running && alive) pollWith(o.poll);
  }
  function pollNow(run: () => void | Promise<void> = o.poll): Promise<void> {
    if (!alive) return Promise.resolve();
    if (!running) return pollWith(run);
    if (!queued) {
      const next = running
        .catch(() => undefined)
        .then(() => {
          queued = null;
          return alive ? pollWith(run) : undefined;
        });
      queued = next;
    }
    return queued;
  }
  function startPolling(): void {
    if (timer || !alive) return;
    if (o.onMode) o.onMode(false);
    timer = window.setInterval(tick, o.every);
    tick();
  }
  function stopPolling(): void {
    window.clearInterval(timer);
    timer = 0;
  }
  async function follow(): Promise<void> {
    let failed: { code: string; message: string } | null = null;
    const onEvent = (m: SSEMessage) => {
      if (m.event === "error") failed = streamError(m.data);
      else o.onEvent(m);
    };
    try {
      const p = await events(o.path, o.lastId(), onEvent, ctl.signal, () => {
        stopPolling();
        if (o.onMode) o.onMode(true);
        retry = o.every;
      }, () => {
        if (!alive) return;
        if (o.onDropped) o.onDropped();
        pollNow();
      });
      if (p.retry) retry = p.retry;
      const f = failed as { code: string; message: string } | null;
      if (f && alive) {
        const again = PASSING_CODES.has(f.code);
        if (again) {
          errWait = Math.max(Math.min(errWait * 2, 30000), retry);
          retry = errWait;
        }
        if (o.onFailed) o.onFailed(new StreamFailed(f.code, f.message, again, again ? retry : 0));
        if (!again) {
          startPolling();
          return;
        }
      } else errWait = 0;
    } catch (err) {
      if (!alive || (err as Error).name === "AbortError") return;
      if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) {
        startPolling();
        return;
      }
    }
    if (over()) return;
    startPolling();
    window.setTimeout(() => {
      if (!over()) follow();
    }, retry);
    retry = Math.min(retry * 2, 30000);
  }
  follow();
  return {
    polling: () => timer !== 0,
    stopPolling,
    pollNow,
    stop() {
      alive = false;
      stopPolling();
      ctl.abort();
    },
  };
}
