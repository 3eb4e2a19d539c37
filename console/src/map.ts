// The world map: d3-geo's Natural Earth projection over the world-atlas
// 110m countries (bundled, never fetched), sites as markers whose colour
// (Okabe–Ito, safe for colour-blind readers) and shape both say the
// outcome, and great-circle arcs for migrations and data transfers.

import { geoNaturalEarth1, geoPath, geoCentroid, GeoProjection } from "d3-geo";
import { feature, mesh } from "topojson-client";
import type { Topology, GeometryCollection } from "topojson-specification";
import world from "world-atlas/countries-110m.json";
import { s, Problems } from "./dom";
import { Site, siteAt } from "./api";

export const W = 960;
export const H = 500;

export interface Outcome {
  label: string;
  colour: string;
  shape: "circle" | "cross" | "square" | "diamond" | "triangle" | "triangle-down" | "ring";
}

// Outcomes of a site in a plan, in the legend's order.
export const OUTCOMES: Record<string, Outcome> = {
  placement: { label: "Placement (lawful, ranked)", colour: "#009E73", shape: "circle" },
  law: { label: "Rejected for law", colour: "#D55E00", shape: "cross" },
  capacity: { label: "Rejected for capacity", colour: "#E69F00", shape: "square" },
  memory: { label: "Rejected for memory", colour: "#56B4E9", shape: "diamond" },
  deadline: { label: "Rejected for the deadline", colour: "#CC79A7", shape: "triangle" },
  budget: { label: "Rejected for the budget", colour: "#0072B2", shape: "triangle-down" },
  other: { label: "Rejected (constraint, access or site)", colour: "#6E6E6E", shape: "ring" },
  none: { label: "Not in this plan", colour: "#BBBBBB", shape: "ring" },
};

// outcomeOf is the outcome of a rejection of kind (the server's word):
// one of OUTCOMES' own, else "other". A kind named like a property every
// object has ("constructor", "toString", "__proto__") is not an outcome:
// taken as one, its site had no marker on the map and no label.
export function outcomeOf(kind: string): string {
  return Object.prototype.hasOwnProperty.call(OUTCOMES, kind) ? kind : "other";
}

// shapePath is an SVG path of the marker, centred on 0,0, r across.
export function shapePath(shape: Outcome["shape"], r: number): string {
  switch (shape) {
    case "square":
      return `M${-r},${-r}h${2 * r}v${2 * r}h${-2 * r}Z`;
    case "diamond":
      return `M0,${-r * 1.3}L${r * 1.3},0L0,${r * 1.3}L${-r * 1.3},0Z`;
    case "triangle":
      return `M0,${-r * 1.3}L${r * 1.2},${r}L${-r * 1.2},${r}Z`;
    case "triangle-down":
      return `M0,${r * 1.3}L${r * 1.2},${-r}L${-r * 1.2},${-r}Z`;
    case "cross": {
      const a = r * 0.45;
      return `M${-r},${-r + a}L${-r + a},${-r}L0,${-a}L${r - a},${-r}L${r},${-r + a}L${a},0L${r},${r - a}L${r - a},${r}L0,${a}L${-r + a},${r}L${-r},${r - a}L${-a},0Z`;
    }
    default:
      return `M${r},0A${r},${r} 0 1,1 ${-r},0A${r},${r} 0 1,1 ${r},0Z`;
  }
}

const topo = world as unknown as Topology<{ countries: GeometryCollection<{ name: string }> }>;
const countries = feature(topo, topo.objects.countries);
const borders = mesh(topo, topo.objects.countries, (a, b) => a !== b);

// countryCentroid is the centroid of a country of the topology by name,
// when it is there (tiny countries are not at 110m).
export function countryCentroid(name: string): [number, number] | null {
  const f = countries.features.find((x) => x.properties && x.properties.name === name);
  return f ? (geoCentroid(f) as [number, number]) : null;
}

export class WorldMap {
  svg: SVGSVGElement;
  projection: GeoProjection;
  sites: SVGGElement;
  arcs: SVGGElement;
  path: ReturnType<typeof geoPath>;
  defs: SVGDefsElement;

  constructor(label: string) {
    this.projection = geoNaturalEarth1().fitExtent(
      [
        [4, 4],
        [W - 4, H - 4],
      ],
      { type: "Sphere" },
    );
    this.path = geoPath(this.projection);
    this.svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "map", role: "group", "aria-label": label }) as SVGSVGElement;
    this.defs = s(
      "defs",
      {},
      s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M0,0L10,5L0,10Z", class: "arrowhead" })),
    ) as SVGDefsElement;
    this.svg.append(
      this.defs,
      s("path", { class: "sphere", d: this.path({ type: "Sphere" }) || "" }),
      s("path", { class: "land", d: this.path(countries) || "" }),
      s("path", { class: "borders", d: this.path(borders) || "" }),
    );
    this.arcs = s("g", { class: "arcs" }) as SVGGElement;
    this.sites = s("g", { class: "sites" }) as SVGGElement;
    this.svg.append(this.arcs, this.sites);
  }

  point(lon: number, lat: number): [number, number] | null {
    return this.projection([lon, lat]);
  }

  // arc draws a great-circle line from a to b ([lon, lat]) with an arrowhead.
  arc(a: [number, number], b: [number, number], cls: string, title: string, data: Record<string, string>): SVGElement {
    const attrs: Record<string, string> = { class: "arc " + cls, d: this.path({ type: "LineString", coordinates: [a, b] }) || "", "marker-end": "url(#arrow)" };
    for (const [k, v] of Object.entries(data)) attrs["data-" + k] = v;
    const el = s("path", attrs, s("title", { text: title }));
    this.arcs.append(el);
    return el;
  }
}

// legend lists the outcomes with their shape and colour.
export function legend(keys: string[]): SVGElement {
  const rowH = 20;
  const svg = s("svg", { class: "legend", viewBox: `0 0 300 ${keys.length * rowH + 4}`, role: "img", "aria-label": "Legend: " + keys.map((k) => OUTCOMES[k].label).join("; ") });
  keys.forEach((k, i) => {
    const o = OUTCOMES[k];
    svg.append(
      s(
        "g",
        { transform: `translate(10,${i * rowH + 12})` },
        s("path", { d: shapePath(o.shape, 6), fill: o.shape === "ring" ? "none" : o.colour, stroke: o.shape === "ring" ? o.colour : "#000", "stroke-width": o.shape === "ring" ? 2.5 : 0.8 }),
        s("text", { x: 16, y: 4, text: o.label }),
      ),
    );
  });
  return svg;
}

// catalogSites indexes the catalog's sites by name: those the pages can
// place; each other is added to problems.
export function catalogSites(list: unknown[], problems: Problems): Map<string, Site> {
  const out = new Map<string, Site>();
  problems.each(
    list,
    (x, i) => {
      const name = x && typeof x === "object" ? (x as Site).metadata?.name : undefined;
      return typeof name === "string" ? "Site " + name : `Site ${i + 1} of the catalog`;
    },
    (x, i) => {
      const st = siteAt(x, `sites[${i}]`);
      out.set(st.metadata.name, st);
    },
  );
  return out;
}
