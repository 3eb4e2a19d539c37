// Meridian console: a single page; the part after # picks the page.
//   #/plan  #/runs  #/runs/ID  #/data  #/rules  #/audit

import { token, setToken, clearToken, call, pathPart } from "./api";
import { h, clear, errorBox, textOr } from "./dom";
import { nameShown } from "./terminal";
import { planPage } from "./plan";
import { runsPage, runPage } from "./runs";
import { dataPage } from "./data";
import { rulesPage } from "./rules";
import { auditPage } from "./audit";

// A page renders into main and returns what stops it (streams, timers).
export type Page = (main: HTMLElement, params: URLSearchParams, arg: string) => (() => void) | void;

const pages: { path: string; title: string; page: Page }[] = [
  { path: "plan", title: "Plan", page: planPage },
  { path: "runs", title: "Runs", page: runsPage },
  { path: "data", title: "Data", page: dataPage },
  { path: "rules", title: "Rules", page: rulesPage },
  { path: "audit", title: "Audit", page: auditPage },
];

let stop: (() => void) | void;

// ANCHORS are the hashes that name a place in the page (the skip link's
// #main), not a page of the console: following one moves to it and the
// page shown stays; a console opened at one shows the first page. Before,
// #main was taken for a page named "main": the skip link stopped the page
// being read and showed "Not found".
const ANCHORS = new Set(["#main"]);
let routed = false;

// onHash routes a change of the hash, but for one to an anchor of a page
// already shown.
function onHash(): void {
  if (routed && ANCHORS.has(location.hash)) return;
  route();
}

function route(): void {
  routed = true;
  if (stop) stop();
  stop = undefined;
  const main = document.getElementById("main")!;
  clear(main);
  const raw = ANCHORS.has(location.hash) ? "" : location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?", 2);
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  const name = parts[0] || "plan";
  nav(name);
  if (!token()) {
    login(main);
    return;
  }
  if (name === "runs" && parts[1]) {
    const id = runId(parts[1]);
    if (id === null) {
      notFound("run", parts[1]);
      return;
    }
    // The id is the link's: the title shows it bounded and marked
    // (nameShown), as the page's heading does.
    document.title = "Run " + nameShown(id) + " · Meridian console";
    stop = runPage(main, params, id);
    return;
  }
  const p = pages.find((x) => x.path === name);
  if (!p) {
    notFound("page", name);
    return;
  }
  document.title = p.title + " · Meridian console";
  stop = p.page(main, params, "");
}

// runId is the run a link's #/runs/ID names, or null when it names none:
// ID is not percent-encoded text, or it is no segment of an API path
// (pathPart: "." or "..", which the browser would take out of the API
// path built from it, /v1/runs/../cancel being /v1/cancel, so that the
// page's requests went to other routes than the run's).
function runId(raw: string): string | null {
  try {
    const id = decodeURIComponent(raw);
    pathPart(id, "the run");
    return id;
  } catch {
    return null;
  }
}

function notFound(what: string, name: string): void {
  document.title = "Not found · Meridian console";
  document.getElementById("main")!.append(h("h2", { text: "Not found" }), h("p", {}, `No ${what} `, h("code", { text: nameShown(name) }), "."));
}

// asked counts the requests for who is signed in: only the last one's
// answer is shown. Each page the console opens asks again, and an answer
// that came after a newer one (a slow server; a sign-out and another
// tenant's sign-in meanwhile) was added beside it, so that the header
// named two tenants, or one that is no longer signed in.
let asked = 0;

function nav(current: string): void {
  const mine = ++asked;
  const el = document.getElementById("nav")!;
  clear(el);
  const ul = h("ul");
  for (const p of pages) {
    ul.append(h("li", {}, h("a", { href: "#/" + p.path, "aria-current": p.path === current ? "page" : undefined, text: p.title })));
  }
  el.append(ul);
  const who = document.getElementById("who")!;
  clear(who);
  if (token()) {
    call<{ tenant: string; admin?: boolean }>("GET", "/v1/healthz")
      .then((r) => {
        if (mine !== asked) return;
        who.append(h("span", { text: "Tenant " + textOr(r.tenant, "(unnamed)") + (r.admin ? " (admin)" : "") }), " ", h("button", { type: "button", onclick: signOut, text: "Sign out" }));
      })
      .catch(() => undefined);
  }
}

function signOut(): void {
  clearToken();
  route();
}

// login asks for the API token once; it is kept in session storage (this
// tab only, gone when it closes) and sent as a bearer token, never a cookie.
function login(main: HTMLElement): void {
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true, "aria-describedby": "token-help" });
  const msg = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "login" },
    h("h2", { text: "Sign in" }),
    h("label", { for: "token", text: "API token" }),
    input,
    h("p", { id: "token-help", class: "help", text: "The bearer token of your tenant (meridian tenant add prints one). It stays in this tab's session storage and is sent only to this server's API." }),
    h("button", { type: "submit", id: "sign-in", text: "Sign in" }),
    msg,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    setToken(input.value);
    clear(msg);
    call("GET", "/v1/healthz")
      .then(() => route())
      .catch((err) => {
        clearToken();
        msg.append(errorBox(err));
      });
  });
  main.append(form);
  input.focus();
}

window.addEventListener("hashchange", onHash);
window.addEventListener("meridian-unauthorized", () => route());
route();
