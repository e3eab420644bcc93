// The ladder diagram, drawn in SVG: only the rows on screen (and the arrows
// that reach into the screen from above) are in the DOM, so a run of 10,000
// segments scrolls as smoothly as one of ten.
//
// Rows come from the server (synack.viz.model, the same rows the CLI's text,
// SVG and Mermaid ladders draw): one per segment sent, state change without a
// segment, timer, error and note. Rows are STEP pixels apart; a silence of a
// second or more adds a break. An arrow starts at its send row and ends where
// its delivery time falls among the rows (the zigzag of the textbooks).

const SVGNS = "http://www.w3.org/2000/svg";
const STEP = 30;
const TOP = 56;
const GAP = 1.0;
const ARROW_REACH = 40;     // rows above the screen whose arrows may still reach into it

const COLORS = { SYN: "#1b7f3b", FIN: "#8e24aa", RST: "#c62828", data: "#1565c0", ACK: "#37474f" };
const STATE_COLORS = { ESTABLISHED: "#1b7f3b", TIME_WAIT: "#8e24aa", CLOSED: "#757575",
                       LISTEN: "#1565c0" };

export function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
                                                '"': "&quot;", "'": "&#39;" }[c]));
}

function color(r) {
  const f = r.flags || [];
  if (f.includes("RST")) return COLORS.RST;
  if (f.includes("SYN")) return COLORS.SYN;
  if (f.includes("FIN")) return COLORS.FIN;
  if (r.len) return COLORS.data;
  return COLORS.ACK;
}

export function segLabel(r) {
  const f = r.flags && r.flags.length ? r.flags.join(",") : "none";
  const parts = [f, `seq=${r.rseq ?? r.seq}`];
  if ((r.flags || []).includes("ACK")) parts.push(`ack=${r.rack ?? r.ack}`);
  parts.push(`len=${r.len}`, `win=${r.wnd}`);
  if (r.tags && r.tags.length) parts.push("(" + r.tags.join(", ") + ")");
  return (r.label ? r.label + ": " : "") + parts.join(" ");
}

export function rowSummary(r, names) {
  const who = r.side === "left" ? names[0] : r.side === "right" ? names[1] : "both";
  switch (r.kind) {
    case "segment": return `${who} sends ${segLabel(r)}` +
      (r.lost ? ` — lost (${r.reason})` : r.deliver_t != null ? `, arrives at ${r.deliver_t.toFixed(3)} s` : "");
    case "arrival": return `late arrival at ${who === names[0] ? names[1] : names[0]}: ${segLabel(r)} (${r.text})`;
    case "state": return `${who}: ${r.text}` + (r.cause ? ` (${r.cause})` : "");
    case "timer": return `${who}: ${r.text} timer expires` + (r.dt ? ` (after ${r.dt.toFixed(3)} s)` : "");
    case "error": return `${who}'s application is told: ${r.text}`;
    default: return r.text || r.kind;
  }
}

export class Ladder {
  constructor(el, { onSelect, onSegmentClick } = {}) {
    this.el = el;
    this.onSelect = onSelect || (() => {});
    this.onSegmentClick = onSegmentClick || (() => {});
    this.rows = [];
    this.sel = 0;
    this.el.innerHTML = "";
    this.spacer = document.createElement("div");
    this.spacer.className = "spacer";
    this.svg = document.createElementNS(SVGNS, "svg");
    this.svg.classList.add("ladder-svg");
    this.el.append(this.spacer);
    this.el.append(this.svg);
    this.pending = false;
    this.el.addEventListener("scroll", () => this.schedule());
    new ResizeObserver(() => this.schedule()).observe(this.el);
    this.svg.addEventListener("click", ev => {
      const g = ev.target.closest("[data-row]");
      if (!g) return;
      const i = Number(g.dataset.row);
      const arrow = ev.target.closest(".seg-hit");
      this.select(i, false);
      this.onSelect(i, true);
      if (arrow) this.onSegmentClick(i, ev);
    });
  }

  setRun(data) {
    this.data = data;
    this.rows = data.rows;
    this.names = [data.meta.left_name, data.meta.right_name];
    this.labels = [data.meta.left_label, data.meta.right_label];
    // y of each row, with breaks for long silences
    const ys = new Float64Array(this.rows.length);
    const ts = new Float64Array(this.rows.length);
    this.gaps = [];
    let y = TOP, prev = null;
    this.rows.forEach((r, i) => {
      if (prev !== null && r.t - prev >= GAP) { this.gaps.push([y + STEP * 0.1, r.t - prev, i]); y += STEP * 0.8; }
      ys[i] = y; ts[i] = r.t; y += STEP; prev = r.t;
    });
    this.ys = ys; this.ts = ts; this.end = y + STEP;
    this.spacer.style.height = `${this.end + 20}px`;
    this.sel = Math.min(this.sel, Math.max(0, this.rows.length - 1));
    this.draw();
  }

  // the y at which time t falls, at or below row `after`
  yAt(t, after) {
    const ts = this.ts, ys = this.ys;
    let lo = after + 1, hi = ts.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (ts[m] < t) lo = m + 1; else hi = m; }
    const k = lo;
    if (k >= ts.length) return ys[after] + STEP;
    if (ts[k] === t || k === after + 1 && ts[k - 1] >= t) return ys[k];
    const t0 = ts[k - 1], y0 = ys[k - 1];
    const frac = ts[k] > t0 ? (t - t0) / (ts[k] - t0) : 1;
    return Math.max(ys[after] + STEP * 0.6, y0 + frac * (ys[k] - y0));
  }

  rowAtY(y) {
    const ys = this.ys;
    let lo = 0, hi = ys.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (ys[m] < y) lo = m + 1; else hi = m; }
    return lo;
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  select(i, scroll = true) {
    if (!this.rows.length) return;
    this.sel = Math.max(0, Math.min(this.rows.length - 1, i));
    if (scroll) {
      const y = this.ys[this.sel], top = this.el.scrollTop, h = this.el.clientHeight;
      if (y < top + 40 || y > top + h - 60) this.el.scrollTop = Math.max(0, y - h / 2);
    }
    this.draw();
  }

  draw() {
    if (!this.data) return;
    const w = Math.max(360, this.el.clientWidth - 4);
    const h = this.el.clientHeight;
    const top = this.el.scrollTop;
    this.svg.setAttribute("width", w);
    this.svg.setAttribute("height", h);
    this.svg.setAttribute("viewBox", `0 ${top} ${w} ${h}`);
    this.svg.style.top = `${top}px`;
    const margin = Math.min(250, w * 0.3);
    const xl = Math.round(margin), xr = Math.round(w - margin);
    this.x = [xl, xr];
    const first = this.rowAtY(top - STEP), last = this.rowAtY(top + h + STEP);
    const from = Math.max(0, first - ARROW_REACH);
    const out = [];
    const bgs = [];
    const headY = Math.max(top + 14, 18);
    // lifelines and their heads (the heads stay on screen)
    out.push(`<rect x="0" y="${top}" width="${w}" height="${h}" fill="white"/>`);
    for (const [k, x] of [[0, xl], [1, xr]]) {
      out.push(`<line x1="${x}" y1="${Math.max(top, TOP - 10)}" x2="${x}" y2="${Math.min(this.end, top + h)}" class="lifeline"/>`);
    }
    for (const [y, dt, i] of this.gaps) {
      if (i < from || i > last + 1) continue;
      for (const x of [xl, xr]) out.push(`<path d="M${x - 8},${y + 2} L${x + 8},${y - 2} M${x - 8},${y + 14} L${x + 8},${y + 10}" class="gap"/><rect x="${x - 8}" y="${y + 3}" width="16" height="6" fill="white"/>`);
      out.push(`<text x="${(xl + xr) / 2}" y="${y + 10}" class="gap-text">┆ ${dt.toFixed(dt < 10 ? 2 : 1)} s later ┆</text>`);
    }
    // rows
    const lastState = ["", ""];
    if (first > 0 && this.rows[first - 1]) {
      lastState[0] = this.rows[first - 1].states[0]; lastState[1] = this.rows[first - 1].states[1];
    }
    for (let i = from; i <= Math.min(last, this.rows.length - 1); i++) {
      const r = this.rows[i], y = this.ys[i];
      const visible = i >= first;
      const cls = ["row", `k-${r.kind}`];
      if (i === this.sel) cls.push("selected");
      if (r.lost) cls.push("lost");
      const attrs = `data-row="${i}" data-kind="${r.kind}" data-side="${r.side || ""}"` +
        (r.flags ? ` data-flags="${r.flags.join(",")}" data-tags="${(r.tags || []).join(",")}" data-lost="${r.lost ? 1 : 0}"` : "") +
        ` data-states="${esc(r.states.join("|"))}"`;
      const g = [`<g class="${cls.join(" ")}" ${attrs}>`];
      if (visible) {
        // backgrounds in a layer of their own, under every arrow
        bgs.push(`<rect class="row-bg${i === this.sel ? " selected" : ""}" data-row="${i}" x="0" y="${y - STEP / 2}" width="${w}" height="${STEP}"/>`);
        g.push(`<text x="8" y="${y + 4}" class="time">${r.t.toFixed(3)}</text>`);
        for (const k of [0, 1]) {
          const st = r.states[k];
          if (r.changed[k] || (st !== lastState[k] && st) || i === first) {
            const bare = st.split(" ").pop();
            const x = k === 0 ? xl - 10 : xr + 10;
            g.push(`<text x="${x}" y="${y + 4}" class="state${r.changed[k] ? " changed" : ""}" text-anchor="${k === 0 ? "end" : "start"}" fill="${STATE_COLORS[bare] || "#222"}">${esc(st)}</text>`);
          }
        }
      }
      if (visible) { lastState[0] = r.states[0]; lastState[1] = r.states[1]; }
      if (r.kind === "segment") g.push(this.arrow(r, i, y));
      else if (visible && r.kind !== "state") g.push(this.sideText(r, y, xl, xr));
      g.push("</g>");
      out.push(g.join(""));
    }
    out.splice(1, 0, ...bgs);
    // heads last, on top
    for (const [k, x] of [[0, xl], [1, xr]]) {
      out.push(`<rect x="${x - 110}" y="${headY - 14}" width="220" height="30" class="head-bg"/>`);
      out.push(`<text x="${x}" y="${headY}" class="head" text-anchor="middle">${esc(this.names[k])}</text>`);
      out.push(`<text x="${x}" y="${headY + 12}" class="head-label" text-anchor="middle">${esc(this.labels[k] || "")}</text>`);
    }
    this.svg.innerHTML = `<defs>${Object.entries(COLORS).map(([n, c]) =>
      `<marker id="h-${this.el.id}-${n}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="${c}"/></marker>`).join("")}</defs>` + out.join("");
  }

  arrow(r, i, y) {
    const [xl, xr] = this.x;
    const x0 = r.side === "left" ? xl : xr, x1 = r.side === "left" ? xr : xl;
    const c = color(r);
    const name = Object.entries(COLORS).find(([, v]) => v === c)[0];
    let y1;
    if (r.deliver_t != null) y1 = this.yAt(r.deliver_t, i);
    else y1 = y + STEP * 0.8;
    if (y1 - y > 40 * STEP) y1 = y + 40 * STEP;
    const parts = [];
    const label = esc(segLabel(r));
    if (r.lost) {
      const xm = (x0 + x1) / 2, ym = (y + y1) / 2;
      parts.push(`<line x1="${x0}" y1="${y}" x2="${xm}" y2="${ym}" stroke="${c}" class="arrow lost-line"/>`);
      parts.push(`<text x="${xm}" y="${ym + 5}" class="cross" text-anchor="middle">✗</text>`);
    } else {
      parts.push(`<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y1}" stroke="${c}" class="arrow" marker-end="url(#h-${this.el.id}-${name})"/>`);
    }
    // the label nearer the sender: arrows that converge on one arrival keep theirs apart
    const f = r.lost ? 0.25 : 0.42;
    const lx = x0 + (x1 - x0) * f, ly = y + (y1 - y) * f - 5;
    const ang = Math.atan2(y1 - y, x1 - x0) * 180 / Math.PI;
    const rot = r.side === "left" ? ang : ang + 180;
    // the label fits along its arrow: a smaller font on a narrow ladder
    const text = segLabel(r) + (r.lost ? " ✗ lost" : "");
    const room = Math.abs(x1 - x0) * (r.lost ? 0.75 : 0.8);
    const size = Math.max(7, Math.min(11, room / (text.length * 0.62)));
    parts.push(`<text x="${lx}" y="${ly}" class="seg-label" text-anchor="middle" font-size="${size.toFixed(1)}" transform="rotate(${rot.toFixed(2)} ${lx} ${ly + 5})" fill="${c}">${esc(text)}</text>`);
    // a wide transparent line: easy to click
    parts.push(`<line x1="${x0}" y1="${y}" x2="${r.lost ? (x0 + x1) / 2 : x1}" y2="${r.lost ? (y + y1) / 2 : y1}" class="seg-hit"><title>${label}${this.data.spec ? " — click to drop, delay, duplicate or corrupt it" : this.data.meta.capture ? " (a capture: edits are not available)" : ""}</title></line>`);
    return parts.join("");
  }

  sideText(r, y, xl, xr) {
    let text = r.text || "", cls = "note";
    if (r.kind === "timer") { text = `◷ ${r.text} expires` + (r.dt ? ` (after ${r.dt.toFixed(3)} s)` : ""); cls = "timer"; }
    else if (r.kind === "error") { text = `⚠ ${r.text}`; cls = "error"; }
    else if (r.kind === "arrival") { text = `┄ late: ${segLabel(r)} ┄`; cls = "arrival"; }
    else if (r.kind === "note") text = `✎ ${r.text}`;
    if (r.label) text = `${r.label}: ${text}`;
    let x = (xl + xr) / 2, anchor = "middle";
    const fits = Math.floor((xr - xl - 24) / 6.5);
    if (text.length > fits || r.kind === "note") {
      // centred, and cut to the room there is (the whole text is in the side panel)
      const room = Math.floor((xl + xr) / 7.4) - 4;
      if (text.length > room) text = text.slice(0, room - 1) + "…";
    } else if (r.side === "left") { x = xl + 12; anchor = "start"; }
    else if (r.side === "right") { x = xr - 12; anchor = "end"; }
    return `<text x="${x}" y="${y + 4}" class="${cls}" text-anchor="${anchor}">${esc(text)}</text>`;
  }
}
