// synack explore: the page. Plain ES modules, no build step, nothing from
// elsewhere: everything comes from the local server (synack.explore.server).
//
// The URL holds the whole state a teacher may want to send: the run (?s=
// scenario, p= profile, seed=, loss=, delay=, msl=, all=1, c= a composed
// run as JSON), the edits (e=drop:8,delay:3:0.5,...), the position (r= row)
// and the run compared with it (b=, bp=).
import { Ladder, esc, segLabel, rowSummary } from "./ladder.js";

const $ = sel => document.querySelector(sel);
const api = async (path, body, raw = false) => {
  const res = await fetch(path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": raw ? "text/plain" : "application/json" },
    body: raw ? body : JSON.stringify(body),
  });
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return res;
};

const state = {
  spec: null,        // the run's spec (null for a loaded trace)
  trace: null,       // a loaded trace's id
  capture: null,     // a loaded capture: { file, conn } (to pick another connection)
  data: null,
  specB: null,
  dataB: null,
  playing: null,
  momentSeq: 0,
  transitions: [],
};

// ------------------------------------------------------------------ messages
function showError(msg) {
  const el = $("#error");
  el.textContent = msg;
  el.hidden = false;
}
function clearError() { $("#error").hidden = true; $("#error").textContent = ""; }

// ------------------------------------------------------------------- ladders
const ladderA = new Ladder($("#ladder-a"), {
  onSelect: (i) => { stop(); moveTo(i); },
  onSegmentClick: (i, ev) => openMenu(i, ev),
});
// a click in the compared run moves both to that moment
const ladderB = new Ladder($("#ladder-b"), {
  onSelect: (i) => {
    stop();
    const t = state.dataB.rows[i].t, rows = state.data.rows;
    let k = 0;
    while (k + 1 < rows.length && rows[k + 1].t <= t) k++;
    moveTo(k);
    ladderB.select(i, false);
  },
});

// ----------------------------------------------------------------------- URL
function specFromForm() {
  const spec = { scenario: $("#scenario").value, profile: $("#profile").value,
                 seed: $("#seed").value.trim() === "" ? 1 : $("#seed").value.trim() };
  for (const k of ["loss", "delay", "msl"]) {
    const v = $("#" + k).value.trim();
    if (v !== "") spec[k] = v;
  }
  if ($("#all-options").checked) spec.all_options = true;
  return spec;
}

function formFromSpec(spec) {
  $("#scenario").value = spec.scenario;
  $("#profile").value = spec.profile || "rfc";
  $("#seed").value = spec.seed ?? 1;
  for (const k of ["loss", "delay", "msl"]) $("#" + k).value = spec[k] ?? "";
  $("#all-options").checked = !!spec.all_options;
}

function specFromURL(q) {
  const spec = { scenario: q.get("s") || "lifecycle" };
  if (q.get("p")) spec.profile = q.get("p");
  if (q.get("seed")) spec.seed = q.get("seed");
  for (const k of ["loss", "delay", "msl"]) if (q.get(k)) spec[k] = q.get(k);
  if (q.get("all") === "1") spec.all_options = true;
  if (q.get("e")) spec.edits = q.get("e").split(",").filter(Boolean);
  if (q.get("c")) {
    try { spec.custom = JSON.parse(q.get("c")); }
    catch (e) { throw new Error(`the URL's c= is not JSON: ${e.message}`); }
  }
  return spec;
}

function editText(e) {
  if (typeof e === "string") return e;
  if (e.op === "rst" || e.op === "syn") return `${e.op}:${e.to}:${e.at}`;
  if (e.op === "delay") return `delay:${e.seg}:${e.by}`;
  return `${e.op}:${e.seg}`;
}

function writeURL(replace = true) {
  const q = new URLSearchParams();
  if (state.spec) {
    const s = state.spec;
    q.set("s", s.scenario);
    if (s.profile && s.profile !== "rfc") q.set("p", s.profile);
    if (s.seed != null && Number(s.seed) !== 1) q.set("seed", s.seed);
    for (const k of ["loss", "delay", "msl"]) if (s[k] != null) q.set(k, s[k]);
    if (s.all_options) q.set("all", "1");
    if (s.edits && s.edits.length) q.set("e", s.edits.map(editText).join(","));
    if (s.custom) q.set("c", JSON.stringify(s.custom));
  }
  if (state.data) q.set("r", String(ladderA.sel));
  if (state.specB) {
    q.set("b", state.specB.scenario);
    if (state.specB.profile && state.specB.profile !== "rfc") q.set("bp", state.specB.profile);
  }
  const url = `${location.pathname}?${q.toString()}`;
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
}

// ----------------------------------------------------------------------- runs
async function run(spec, { row = 0, push = true } = {}) {
  clearError();
  stop();
  let data;
  try {
    data = await (await api("/api/run", { spec })).json();
  } catch (e) {
    showError(`That run cannot be made: ${e.message}`);
    return false;
  }
  state.spec = data.spec;
  state.trace = null;
  state.capture = null;
  show(data, row);
  writeURL(!push);
  return true;
}

function show(data, row = 0) {
  state.data = data;
  const m = data.meta;
  $("#title-a").innerHTML = `<b>${esc(m.name)}</b>: ${esc(m.title)}` +
    (m.edits && m.edits.length ? ` <span class="edited">edited: ${esc(m.edits.join(", "))}</span>` : "") +
    ` <span class="dim">${data.segments} segments, ${data.rows.length} events</span>`;
  $("#about-body").innerHTML = `<p>${esc(m.text || "").replace(/\n\s*\n/g, "</p><p>")}</p>` +
    `<p class="dim">${esc(m.settings || "")}</p>` +
    (m.capture ? `<p class="warn" id="capture-note">A capture: the states on both lifelines are inferred from the segments (as <code>synack explain</code> does), not computed by the engine, so there are no TCBs, and edits that recompute a run (drop, delay, duplicate, corrupt, inject) are not available for a capture.</p>` :
     m.engine ? "" : `<p class="warn">A loaded trace: drawn from the file, without the engine, so there are no TCBs and no edits.</p>` +
      (m.run ? `<p><button id="rerun">Compute this run again with the engine</button> <span class="dim">(the file says how it was made)</span></p>` : ""));
  const rerun = $("#rerun");
  if (rerun) rerun.onclick = () => run(m.run, { row: ladderA.sel });
  if (state.spec) formFromSpec(state.spec);
  renderConnections(m.capture);
  if (state.spec && state.spec.custom) composeFromSpec(state.spec.custom);
  renderEdits();
  ladderA.sel = Math.max(0, Math.min(row, data.rows.length - 1));
  ladderA.setRun(data);
  ladderA.select(ladderA.sel);
  moveTo(ladderA.sel);
}

// a capture's connections, to pick one (like `synack explain FILE --conn N`)
function renderConnections(cap) {
  const pick = $("#conn-pick");
  pick.hidden = !cap;
  if (!cap) return;
  $("#conn").innerHTML = cap.connections.map(c => {
    const [a, b] = Object.keys(c.states);
    return `<option value="${c.conn}"${c.conn === cap.conn ? " selected" : ""}>#${c.conn} ${esc(c[a])} → ${esc(c[b])} · ${c.packets} segments · ${esc(c.states[a])} / ${esc(c.states[b])}</option>`;
  }).join("");
}

function renderEdits() {
  const el = $("#edits");
  if (state.capture) { el.innerHTML = `<span class="dim no-edits" title="a capture has no engine behind it: nothing to recompute">edits: not available for a capture</span>`; return; }
  const edits = state.spec && state.spec.edits || [];
  el.innerHTML = edits.map((e, i) => `<span class="edit-chip" data-i="${i}">${esc(editText(e))} <button title="undo this edit" data-undo="${i}">×</button></span>`).join("");
}

async function runB(spec) {
  clearError();
  try {
    const data = await (await api("/api/run", { spec })).json();
    state.specB = data.spec;
    state.dataB = data;
    $("#pane-b").hidden = false;
    $("#panes").classList.add("split");
    const m = data.meta;
    $("#title-b").innerHTML = `<span class="t"><b>${esc(m.name)}</b>: ${esc(m.title)} <span class="dim">(${esc(data.spec.profile)}) ${data.segments} segments</span></span>` +
      `<span class="exports-b">${["pcap", "json", "svg", "mermaid"].map(f => `<button data-export-b="${f}">${f}</button>`).join("")}</span>`;
    $("#title-b").querySelectorAll("[data-export-b]").forEach(b => { b.onclick = () => download(b.dataset.exportB, { spec: state.specB }); });
    ladderB.setRun(data);
    syncB();
    ladderA.schedule();
    writeURL();
    return true;
  } catch (e) {
    showError(`The run to compare cannot be made: ${e.message}`);
    return false;
  }
}

function syncB() {
  if (!state.dataB || !state.data) return;
  const t = state.data.rows[ladderA.sel].t;
  const rows = state.dataB.rows;
  let k = 0;
  while (k + 1 < rows.length && rows[k + 1].t <= t) k++;
  ladderB.select(k);
}

// ----------------------------------------------------------------- moving
function moveTo(i) {
  if (!state.data) return;
  const n = state.data.rows.length;
  i = Math.max(0, Math.min(n - 1, i));
  ladderA.select(i);
  const r = state.data.rows[i];
  $("#pos").innerHTML = `event <b id="pos-row">${i + 1}</b> of ${n} · t = <b id="pos-t">${r.t.toFixed(3)}</b> s`;
  writeURL();
  syncB();
  renderMoment(i);
  renderMachines(i);
  fetchMoment(i);
}

function renderMoment(i) {
  const d = state.data, r = d.rows[i];
  const names = [d.meta.left_name, d.meta.right_name];
  const trs = (r.transitions || []).map(([side, f, t, cause]) =>
    `<li><b>${esc(side === "left" ? names[0] : names[1])}</b>: ${esc(f)} → <b>${esc(t)}</b>${cause ? ` <span class="cause">(${esc(cause)})</span>` : ""}</li>`).join("");
  $("#moment-body").innerHTML =
    `<p class="summary" id="summary">${esc(rowSummary(r, names))}</p>` +
    (trs ? `<ul class="transitions">${trs}</ul>` : "") +
    `<p class="states">${esc(names[0])}: <b id="state-left">${esc(r.states[0] || "–")}</b> · ${esc(names[1])}: <b id="state-right">${esc(r.states[1] || "–")}</b></p>` +
    (r.explain ? `<div class="explain" id="explain">${r.explain.map(x => `<p>${esc(x)}</p>`).join("")}</div>` : "");
}

async function fetchMoment(i) {
  const seq = ++state.momentSeq;
  const body = state.trace ? { trace: state.trace, row: i } : { spec: state.spec, row: i };
  try {
    const m = await (await api("/api/moment", body)).json();
    if (seq !== state.momentSeq) return;
    renderTCB(m);
    renderSegment(m);
  } catch (e) {
    if (seq === state.momentSeq) showError(e.message);
  }
}

const SEQ_FIELDS = [["SND.UNA", "snd_una", "iss"], ["SND.NXT", "snd_nxt", "iss"], ["SND.WND", "snd_wnd"],
  ["RCV.NXT", "rcv_nxt", "irs"], ["RCV.WND", "rcv_wnd"], ["cwnd", "cwnd"], ["ssthresh", "ssthresh"],
  ["SRTT", "srtt", null, "s"], ["RTO", "rto", null, "s"], ["in flight", "unacked"]];

function renderTCB(m) {
  const el = $("#tcb-body");
  if (!m.engine) { el.innerHTML = `<p class="dim">no TCBs in a loaded ${state.capture ? "capture" : "trace"}</p>`; return; }
  const now = m.t;
  const blocks = [];
  for (const [host, items] of Object.entries(m.tcb || {})) {
    const conns = items.filter(c => c.kind === "connection");
    const lsts = items.filter(c => c.kind === "listener");
    let html = `<div class="tcb-host" data-host="${esc(host)}"><h3>${esc(host)}</h3>`;
    for (const l of lsts) html += `<p class="listener">listener ${esc(l.local)}: <b>${esc(l.state)}</b>, SYN queue ${l.syn_queue}, accept queue ${l.accept_queue} (backlog ${l.backlog})</p>`;
    if (!conns.length) html += `<p class="dim">no connection</p>`;
    const shown = conns.slice(-4);
    if (conns.length > shown.length) html += `<p class="dim">${conns.length - shown.length} more connections not shown</p>`;
    for (const c of shown) {
      html += `<table class="tcb" data-state="${esc(c.state)}"><caption>${esc(c.local)} ⇄ ${esc(c.remote)}: <b class="tcb-state">${esc(c.state)}</b></caption>`;
      for (const [label, key, base, unit] of SEQ_FIELDS) {
        if (!(key in c)) continue;
        let v = c[key];
        let shownV;
        if (v === null || v === undefined) shownV = "–";
        else if (unit === "s") shownV = `${(v * 1000).toFixed(1)} ms`;
        else if (base && c[base] != null) shownV = `${(v - c[base] + 2 ** 32) % 2 ** 32} <span class="dim">(${v})</span>`;
        else shownV = String(v);
        html += `<tr data-field="${label}"><th>${label}</th><td>${shownV}</td></tr>`;
      }
      const timers = Object.entries(c.timers || {});
      html += `<tr data-field="timers"><th>timers</th><td>${timers.length ? timers.map(([n, t]) =>
        `<span class="timer-chip">${esc(n)} at ${t.toFixed(3)} s (in ${(t - now).toFixed(3)} s)</span>`).join(" ") : "none armed"}</td></tr>`;
      html += `</table>`;
    }
    blocks.push(html + `</div>`);
  }
  el.innerHTML = blocks.join("") || `<p class="dim">nothing yet</p>`;
}

function hexdump(hex, ihl, thl) {
  const bytes = hex.match(/../g) || [];
  const lines = [];
  for (let o = 0; o < bytes.length; o += 16) {
    const cells = bytes.slice(o, o + 16).map((b, k) => {
      const i = o + k;
      const cls = i < ihl ? "ip" : i < ihl + thl ? "tcp" : "data";
      return `<span class="${cls}">${b}</span>`;
    });
    lines.push(`<span class="off">${o.toString(16).padStart(4, "0")}</span>  ${cells.join(" ")}`);
  }
  return lines.join("\n");
}

function renderSegment(m) {
  const el = $("#segment-body");
  if (!m.segment) {
    const r = state.data.rows[m.row];
    el.innerHTML = `<p class="dim">${r.kind === "arrival" ? "a late arrival: select its send row" : "this event is not a segment"}</p>`;
    return;
  }
  const s = m.segment, r = state.data.rows[m.row];
  el.innerHTML = `<p><b id="seg-label">${esc(segLabel(r))}</b> <span class="dim">segment #${s.seg}, ${esc(s.event.src)} → ${esc(s.event.dst)}</span></p>` +
    `<table class="fields">${Object.entries(s.fields).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("")}</table>` +
    `<pre class="hex" id="hex">${hexdump(s.hex, s.ip_header_len, s.tcp_header_len)}</pre>` +
    `<p class="legend"><span class="ip">IP header</span> <span class="tcp">TCP header</span> <span class="data">payload</span></p>` +
    (state.spec ? `<p><button id="seg-edit">Drop, delay, duplicate or corrupt this segment…</button></p>` :
     state.capture ? `<p><button id="seg-edit-off" disabled title="not available for a capture: there is no engine to recompute the run">Drop, delay, duplicate or corrupt this segment…</button> <span class="dim">not available for a capture</span></p>` : "");
  const b = $("#seg-edit");
  if (b) b.onclick = ev => openMenu(m.row, ev);
}

// -------------------------------------------------------------- state machines
async function loadMachines() {
  const d = await (await api("/api/states")).json();
  state.transitions = d.transitions;
  for (const id of ["#sm-left", "#sm-right"]) {
    const box = $(id + " .sm");
    box.innerHTML = d.svg;
    const svg = box.querySelector("svg");
    // show the diagram without its numbered legend
    const legend = [...svg.querySelectorAll("text")].find(t => t.textContent.startsWith("Transitions ("));
    const h = legend ? Number(legend.getAttribute("y")) - 24 : Number(svg.getAttribute("height"));
    svg.setAttribute("viewBox", `50 56 800 ${h - 56}`);
    svg.removeAttribute("width"); svg.removeAttribute("height");
    for (const t of svg.querySelectorAll("text")) {
      const rect = t.previousElementSibling;
      if (rect && rect.tagName === "rect" && /^[A-Z_0-9]+$/.test(t.textContent)) {
        rect.classList.add("state-box");
        rect.dataset.state = t.textContent;
        t.classList.add("state-name");
        t.dataset.state = t.textContent;
      }
    }
    // the numbered circles refer to the legend, which is not shown here
    for (const c of svg.querySelectorAll("circle")) {
      const n = c.nextElementSibling;
      if (n && n.tagName === "text") n.remove();
      c.remove();
    }
    box.closest("figure").title = "click to enlarge";
    box.closest("figure").onclick = () => {
      document.querySelectorAll(".machines figure").forEach(f => f.classList.toggle("big"));
    };
    for (const p of svg.querySelectorAll("path")) {
      const title = p.querySelector("title");
      if (title) p.dataset.edge = title.textContent.split(":")[0];
    }
  }
}

function renderMachines(i) {
  const d = state.data, r = d.rows[i];
  const names = [d.meta.left_name, d.meta.right_name];
  [["#sm-left", 0, "left"], ["#sm-right", 1, "right"]].forEach(([id, k, side]) => {
    const fig = $(id);
    const st = (r.states[k] || "").split(" ").pop();
    const tr = (r.transitions || []).filter(x => x[0] === side).pop();
    fig.querySelector("figcaption").innerHTML = `<b>${esc(names[k])}</b>: <span class="sm-state">${esc(st || "–")}</span>` +
      (tr ? ` <span class="cause">${esc(tr[1])} → ${esc(tr[2])}: ${esc(tr[3] || "")}</span>` : "");
    const svg = fig.querySelector("svg");
    if (!svg) return;
    svg.querySelectorAll(".lit").forEach(e => e.classList.remove("lit"));
    svg.querySelectorAll(".lit-edge").forEach(e => e.classList.remove("lit-edge"));
    // CLOSED after a close: the dashed second box at the bottom
    const boxes = [...svg.querySelectorAll(`[data-state="${st}"]`)];
    let pick = boxes;
    if (st === "CLOSED" && boxes.length > 2) {
      const lower = tr && !["SYN_SENT", "LISTEN", "CLOSED"].includes(tr[1]);
      pick = lower ? boxes.slice(2) : boxes.slice(0, 2);
    }
    pick.forEach(e => e.classList.add("lit"));
    if (tr) svg.querySelectorAll(`[data-edge="${tr[1]} → ${tr[2]}"]`).forEach(e => e.classList.add("lit-edge"));
  });
}

// ------------------------------------------------------------------- playing
function stop() {
  if (state.playing) { clearInterval(state.playing); state.playing = null; }
  $("#play").textContent = "▶ play";
}
function play() {
  if (state.playing) { stop(); return; }
  const rate = Number($("#speed").value);
  $("#play").textContent = "⏸ pause";
  state.playing = setInterval(() => {
    if (!state.data || ladderA.sel >= state.data.rows.length - 1) { stop(); return; }
    moveTo(ladderA.sel + 1);
  }, 1000 / rate);
}

// ----------------------------------------------------------------- editing
let menuRow = null;
function openMenu(i, ev) {
  if (state.capture) { showError("A capture cannot be edited: edits that recompute a run are not available for a capture (no engine behind it)."); return; }
  if (!state.spec) { showError("A loaded trace cannot be edited: there is no engine behind it."); return; }
  const r = state.data.rows[i];
  const menu = $("#menu");
  menuRow = i;
  menu.querySelector(".menu-title").textContent = r.kind === "segment" ? `segment #${r.seg}: ${segLabel(r)}` : `at t = ${r.t.toFixed(3)} s`;
  menu.querySelectorAll("[data-edit]").forEach(b => { b.disabled = r.kind !== "segment"; });
  menu.hidden = false;
  const x = Math.min(ev.clientX + 8, window.innerWidth - menu.offsetWidth - 8);
  const y = Math.min(ev.clientY + 8, window.innerHeight - menu.offsetHeight - 8);
  menu.style.left = `${x}px`; menu.style.top = `${y}px`;
}
function closeMenu() { $("#menu").hidden = true; menuRow = null; }

async function addEdit(edit) {
  const spec = { ...state.spec, edits: [...(state.spec.edits || []).map(editText), edit] };
  const row = ladderA.sel;
  await run(spec, { row });
}

// --------------------------------------------------------------------- wiring
function parseActions(text) {
  const acts = [];
  text.split("\n").forEach((line, n) => {
    const p = line.trim().split(/\s+/).filter(Boolean);
    if (!p.length || p[0].startsWith("#")) return;
    if (p.length < 3) throw new Error(`timeline line ${n + 1}: "TIME WHO ACTION [N]" expected`);
    const a = { t: p[0], who: p[1], do: p[2] };
    if (p[3] !== undefined) a[p[2] === "flood" ? "count" : "bytes"] = p[3];
    acts.push(a);
  });
  return acts;
}

// the compose form shows the composed run on screen (from the URL, say)
function composeFromSpec(c) {
  const set = (id, v) => { $("#c-" + id).value = v; };
  for (const k of ["delay", "loss", "reorder", "duplicate"]) set(k, c.link[k]);
  for (const k of ["window_scaling", "timestamps", "sack", "nagle", "delayed_ack"]) $("#c-" + k).checked = !!c.options[k];
  set("syn_cookies", c.options.syn_cookies); set("backlog", c.options.backlog);
  set("cc", c.options.congestion_control); set("rcvbuf", c.options.rcvbuf); set("until", c.until);
  $("#c-actions").value = c.actions.map(a => [a.t, a.who, a.do, a.bytes ?? a.count ?? ""].join(" ").trim()).join("\n");
}

function composeSpec() {
  const v = id => $("#c-" + id).value.trim();
  const custom = {
    link: { delay: v("delay"), loss: v("loss"), reorder: v("reorder"), duplicate: v("duplicate") },
    options: { window_scaling: $("#c-window_scaling").checked, timestamps: $("#c-timestamps").checked,
               sack: $("#c-sack").checked, nagle: $("#c-nagle").checked,
               delayed_ack: $("#c-delayed_ack").checked, syn_cookies: v("syn_cookies"),
               backlog: v("backlog"), congestion_control: v("cc"), rcvbuf: v("rcvbuf") },
    actions: parseActions($("#c-actions").value),
    until: v("until"),
  };
  return { scenario: "custom", profile: $("#profile").value, seed: $("#seed").value.trim() || 1, custom };
}

async function download(fmt, which) {
  if (!state.data) return;
  const body = which || (state.trace ? { trace: state.trace } : { spec: state.spec });
  try {
    const res = await api(`/api/export/${fmt}`, body);
    const blob = await res.blob();
    const cd = res.headers.get("Content-Disposition") || "";
    const name = (cd.match(/filename="([^"]+)"/) || [, `trace.${fmt}`])[1];
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  } catch (e) {
    showError(`Export failed: ${e.message}`);
  }
}

// a JSON Lines trace or a pcap/pcapng capture (the server tells them apart);
// for a capture, `conn` picks the connection drawn
async function loadFile(file, conn = 1) {
  clearError();
  stop();
  try {
    const bytes = await file.arrayBuffer();
    const data = await (await api(`/api/load?conn=${conn}`, bytes, true)).json();
    state.spec = null;
    state.trace = data.trace;
    state.capture = data.meta.capture ? { file, conn: data.meta.capture.conn } : null;
    state.specB = null;
    show(data, 0);
    history.replaceState(null, "", `${location.pathname}?trace=loaded`);
  } catch (e) {
    showError(`That file cannot be loaded: ${e.message}`);
  }
}

function wire() {
  $("#run-form").addEventListener("submit", ev => {
    ev.preventDefault();
    if ($("#scenario").value === "custom") {           // the composed run, as the form says
      let spec;
      try { spec = composeSpec(); } catch (e) { showError(e.message); return; }
      $("#compose").hidden = false;
      run(spec);
      return;
    }
    run(specFromForm());
  });
  $("#scenario").addEventListener("change", () => $("#run-form").requestSubmit());
  $("#compose-toggle").onclick = () => { $("#compose").hidden = !$("#compose").hidden; };
  $("#compare-toggle").onclick = () => { $("#compare-form").hidden = !$("#compare-form").hidden; };
  $("#compose-run").onclick = () => {
    let spec;
    try { spec = composeSpec(); } catch (e) { showError(e.message); return; }
    run(spec);
  };
  $("#b-run").onclick = () => runB({ scenario: $("#b-scenario").value, profile: $("#b-profile").value });
  $("#b-close").onclick = () => {
    state.specB = null; state.dataB = null;
    $("#pane-b").hidden = true; $("#panes").classList.remove("split");
    ladderA.schedule(); writeURL();
  };
  $("#first").onclick = () => { stop(); moveTo(0); };
  $("#back").onclick = () => { stop(); moveTo(ladderA.sel - 1); };
  $("#fwd").onclick = () => { stop(); moveTo(ladderA.sel + 1); };
  $("#last").onclick = () => { stop(); moveTo(state.data.rows.length - 1); };
  $("#play").onclick = play;
  $("#speed").onchange = () => { if (state.playing) { stop(); play(); } };
  const jump = () => {
    const v = $("#jump").value.trim();
    const t = Number(v);
    if (v === "" || !Number.isFinite(t) || t < 0) { showError(`jump to t: ${JSON.stringify(v)} is not a time in seconds (a number, 0 or more)`); return; }
    clearError();
    const rows = state.data.rows;
    let k = rows.findIndex(r => r.t >= t);
    if (k < 0) k = rows.length - 1;
    stop(); moveTo(k);
  };
  $("#jump-go").onclick = jump;
  $("#jump").addEventListener("keydown", ev => { if (ev.key === "Enter") jump(); });
  document.querySelectorAll("[data-export]").forEach(b => { b.onclick = () => download(b.dataset.export); });
  $("#conn").addEventListener("change", ev => { if (state.capture) loadFile(state.capture.file, Number(ev.target.value)); });
  $("#load").addEventListener("change", ev => { if (ev.target.files[0]) loadFile(ev.target.files[0]); ev.target.value = ""; });
  $("#edits").addEventListener("click", ev => {
    const b = ev.target.closest("[data-undo]");
    if (!b) return;
    const edits = (state.spec.edits || []).map(editText);
    edits.splice(Number(b.dataset.undo), 1);
    run({ ...state.spec, edits }, { row: ladderA.sel });
  });
  $("#menu").addEventListener("click", ev => {
    const b = ev.target.closest("button");
    if (!b || menuRow === null) return;
    const r = state.data.rows[menuRow];
    if (b.dataset.edit) {
      let e = `${b.dataset.edit}:${r.seg}`;
      if (b.dataset.edit === "delay") e = `delay:${r.seg}:${$("#menu-delay").value.trim()}`;
      closeMenu();
      addEdit(e);
    } else if (b.dataset.inject) {
      closeMenu();
      addEdit(`${b.dataset.inject}:${r.t}`);
    }
  });
  $("#menu-delay").addEventListener("click", ev => ev.stopPropagation());
  document.addEventListener("click", ev => {
    if (!$("#menu").hidden && !ev.target.closest("#menu") && !ev.target.closest(".seg-hit") && ev.target.id !== "seg-edit") closeMenu();
  });
  document.addEventListener("keydown", ev => {
    if (ev.target.matches("input, select, textarea")) return;
    if (ev.key === "Escape") closeMenu();
    else if (ev.key === "ArrowRight" || ev.key === "ArrowDown") { ev.preventDefault(); stop(); moveTo(ladderA.sel + 1); }
    else if (ev.key === "ArrowLeft" || ev.key === "ArrowUp") { ev.preventDefault(); stop(); moveTo(ladderA.sel - 1); }
    else if (ev.key === " ") { ev.preventDefault(); play(); }
    else if (ev.key === "Home") { stop(); moveTo(0); }
    else if (ev.key === "End") { stop(); moveTo(state.data.rows.length - 1); }
  });
  window.addEventListener("popstate", () => start());
}

async function start() {
  const q = new URLSearchParams(location.search);
  let spec;
  try { spec = specFromURL(q); } catch (e) { showError(e.message); spec = { scenario: "lifecycle" }; }
  const row = Number(q.get("r") || 0);
  if (!Number.isInteger(row) || row < 0) showError(`the URL's r=${q.get("r")} is not an event number`);
  const ok = await run(spec, { row: Number.isInteger(row) && row >= 0 ? row : 0, push: false });
  if (ok && state.data && row >= state.data.rows.length) {
    showError(`the URL's r=${row} is past the run's last event (${state.data.rows.length - 1}): showing the last one`);
  }
  if (q.get("b")) await runB({ scenario: q.get("b"), profile: q.get("bp") || "rfc" });
  document.body.dataset.ready = "1";
}

async function main() {
  wire();
  try {
    const list = await (await api("/api/scenarios")).json();
    const opts = list.map(s => `<option value="${esc(s.name)}" title="${esc(s.summary)}">${esc(s.name)}</option>`).join("");
    $("#scenario").innerHTML = opts + `<option value="custom">custom (Compose…)</option>`;
    $("#b-scenario").innerHTML = opts;
    await loadMachines();
  } catch (e) {
    showError(`The server does not answer: ${e.message}`);
  }
  await start();
}

main();
