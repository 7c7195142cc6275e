// pinlake item view and editor: one item at full size (zoom, pan) with its entities' boxes and keypoints.
// With the server's API token entered, draw, move, resize, relabel and delete, then save every edit of the
// item as ONE dataset version (POST /items/{dataset}/{id}/edits, source kind human). Plain JS, no build step.
"use strict";

// --- who may edit: the server's /auth and the token kept in this browser ------------------------------
const AUTH = { enabled: false, ok: false, user: null };
const TOKEN_KEY = "pinlake.token";
const token = () => localStorage.getItem(TOKEN_KEY) || "";
const canEdit = () => AUTH.enabled && AUTH.ok;

async function loadAuth() {
  const t = token();
  try {
    const a = await (await fetch("/auth", { headers: t ? { authorization: `Bearer ${t}` } : {} })).json();
    Object.assign(AUTH, { enabled: !!a.writes_enabled, ok: !!a.authenticated, user: a.user });
  } catch (err) {
    Object.assign(AUTH, { enabled: false, ok: false, user: null });
  }
  renderAuth();
}

function renderAuth(problem = "") {
  const box = $("#auth");
  if (!box) return;
  if (!AUTH.enabled) { box.replaceChildren(); return; } // a read-only server: no editing anywhere
  if (AUTH.ok) {
    box.replaceChildren(el("span", { class: "muted", id: "auth-user" }, `editing as ${AUTH.user}`),
      el("button", { id: "auth-lock", class: "edit-control", onclick: () => { localStorage.removeItem(TOKEN_KEY); loadAuth().then(rerender); } }, "Lock"));
    return;
  }
  const input = el("input", { id: "token-input", type: "password", placeholder: "API token", autocomplete: "off", size: "14" });
  box.replaceChildren(el("form", { id: "token-form", onsubmit: async (e) => {
    e.preventDefault();
    localStorage.setItem(TOKEN_KEY, input.value.trim());
    await loadAuth();
    if (!AUTH.ok) { localStorage.removeItem(TOKEN_KEY); renderAuth("wrong token"); } else rerender();
  } }, input, el("button", { type: "submit", id: "token-submit" }, "Unlock editing"), problem ? el("span", { class: "error small", id: "token-error" }, problem) : ""));
}

function rerender() { document.body.dataset.ready = ""; route(); }

async function send(method, path, body) {
  const resp = await fetch(path, { method, headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${token()}` }, body: JSON.stringify(body) });
  const out = await resp.json().catch(() => ({ error: resp.statusText }));
  if (!resp.ok) { const err = new Error(out.error || resp.statusText); err.status = resp.status; err.hint = out.hint; err.body = out; throw err; }
  return out;
}

// --- geometry: rows hold their own convention (xywh or xyxy, pixels or normalised); the editor works in pixels ---
const r2 = (v) => Math.round(v * 100) / 100;
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

function boxPx(d, W, H) {
  let [x, y, w, h] = d.coords;
  if (d.format === "xyxy") { w -= x; h -= y; }
  const sx = d.is_normalized ? W : 1, sy = d.is_normalized ? H : 1;
  return [x * sx, y * sy, w * sx, h * sy];
}

function setBoxPx(d, [x, y, w, h], W, H) {
  if (w < 0) { x += w; w = -w; }
  if (h < 0) { y += h; h = -h; }
  x = clamp(x, 0, W); y = clamp(y, 0, H); w = clamp(w, 0, W - x); h = clamp(h, 0, H - y);
  const c = d.format === "xyxy" ? [x, y, x + w, y + h] : [x, y, w, h];
  d.coords = d.is_normalized ? c.map((v, i) => clamp(v / (i % 2 ? H : W), 0, 1)) : c.map(r2);
}

function kpPx(d, i, W, H) { return [d.coords[2 * i] * (d.is_normalized ? W : 1), d.coords[2 * i + 1] * (d.is_normalized ? H : 1)]; }
function setKpPx(d, i, [x, y], W, H) {
  x = clamp(x, 0, W); y = clamp(y, 0, H);
  d.coords[2 * i] = d.is_normalized ? x / W : r2(x);
  d.coords[2 * i + 1] = d.is_normalized ? y / H : r2(y);
}

function newId() { return [...crypto.getRandomValues(new Uint8Array(11))].map((b) => b.toString(16).padStart(2, "0")).join(""); }
const clone = (o) => JSON.parse(JSON.stringify(o));
const enc = encodeURIComponent;

// --- the item view ------------------------------------------------------------------------------------------
let ED = null; // the open item's editor state

function gridIds(name) { try { return JSON.parse(sessionStorage.getItem(`pinlake.grid.${name}`) || "[]"); } catch (e) { return []; } }

function itemHash(name, id, params) {
  const q = pinQuery(params || new URLSearchParams()).toString();
  return `#/d/${enc(name)}/item/${enc(id)}${q ? "?" + q : ""}`;
}

async function showItem(name, id, params, t = ticket()) {
  $("#crumb").replaceChildren("/ ", el("a", { href: `#/d/${enc(name)}` }, name), " / ", el("span", { id: "crumb-item" }, id));
  const pin = pinQuery(params);
  const item = await api(`/items/${enc(name)}/${enc(id)}?${pin}`);
  if (superseded(t)) return false; // app.js: a later view was asked for meanwhile
  const views = Object.entries(item.views || {}).filter(([, v]) => v);
  const [viewTable, view] = views[0] || [null, null];
  const W = (view && view.data.width) || 1, H = (view && view.data.height) || 1;
  const tables = item.tables || {};
  const rows = {};
  for (const [t, info] of Object.entries(tables)) if (info.group === "entities" || info.group === "annotations") rows[t] = clone(item[info.group][t] || []);
  const entityTable = Object.keys(tables).find((t) => tables[t].group === "entities" && (item.categories || {})[t] !== undefined)
    || Object.keys(tables).find((t) => tables[t].group === "entities");
  const bboxTable = Object.keys(tables).find((t) => tables[t].base_schema === "BBox");
  ED = {
    name, id, params, item, view, viewTable, W, H, tables, entityTable, bboxTable,
    readOnly: !!pin.toString() || !canEdit(),
    base: item.dataset_version, orig: clone(rows), work: rows,
    categories: (item.categories || {})[entityTable] || [],
    // new boxes follow the dataset's boxes (the server says, per bbox table), else the item's own, else pixels
    normalised: typeof (tables[bboxTable] || {}).normalized === "boolean" ? tables[bboxTable].normalized : (rows[bboxTable] || []).some((b) => b.data.is_normalized),
    selected: null, tool: "select", s: 1, tx: 0, ty: 0, undo: [], redo: [], drag: null, space: false, status: "", conflict: null,
  };
  renderItem();
  fit();
  return drew(t);
}

function entities() { return ED.entityTable ? ED.work[ED.entityTable] : []; }
function annotationsOf(entityId) {
  const out = [];
  for (const [t, info] of Object.entries(ED.tables)) if (info.group === "annotations") for (const a of ED.work[t] || []) if (a.data.entity_ref && a.data.entity_ref.id === entityId) out.push([t, a]);
  return out;
}
function rowById(table, id) { return (ED.work[table] || []).find((r) => r.id === id); }

function sourceLabel(entityId) {
  const kinds = new Set();
  for (const [t, a] of annotationsOf(entityId)) {
    const o = (ED.orig[t] || []).find((r) => r.id === a.id);
    if (!o || JSON.stringify(o.data) !== JSON.stringify(a.data)) { kinds.add(`${AUTH.user || "you"} · human (unsaved)`); continue; }
    const s = (ED.item.sources || {})[a.data.source_ref && a.data.source_ref.id];
    kinds.add(s ? `${s.data.name} · ${s.data.kind}` : "no source");
  }
  return [...kinds].join(", ") || "no annotation";
}

function changes() {
  const tables = {};
  const origEntities = new Set((ED.orig[ED.entityTable] || []).map((r) => r.id));
  const gone = new Set([...origEntities].filter((id) => !rowById(ED.entityTable, id)));
  let n = 0;
  for (const t of Object.keys(ED.work)) {
    const before = new Map((ED.orig[t] || []).map((r) => [r.id, r]));
    const now = new Map(ED.work[t].map((r) => [r.id, r]));
    const add = ED.work[t].filter((r) => !before.has(r.id)).map((r) => ({ id: r.id, data: r.data }));
    const update = ED.work[t].filter((r) => before.has(r.id) && JSON.stringify(before.get(r.id).data) !== JSON.stringify(r.data)).map((r) => ({ id: r.id, data: r.data }));
    // an entity's annotations go with it on the server: only the entity is sent
    const del = [...before.keys()].filter((id) => !now.has(id) && !(ED.tables[t].group === "annotations" && gone.has((before.get(id).data.entity_ref || {}).id)));
    if (add.length || update.length || del.length) { tables[t] = { add, update, delete: del }; n += add.length + update.length + del.length; }
  }
  return { tables, n };
}

function snapshot() { ED.undo.push(JSON.stringify(ED.work)); ED.redo = []; if (ED.undo.length > 200) ED.undo.shift(); }
function undo() { if (!ED.undo.length) return; ED.redo.push(JSON.stringify(ED.work)); ED.work = JSON.parse(ED.undo.pop()); if (ED.selected && !rowById(ED.entityTable, ED.selected)) ED.selected = null; renderItem(); }
function redo() { if (!ED.redo.length) return; ED.undo.push(JSON.stringify(ED.work)); ED.work = JSON.parse(ED.redo.pop()); renderItem(); }

// --- rendering ------------------------------------------------------------------------------------------------
function renderItem() {
  const editing = !ED.readOnly;
  const ids = gridIds(ED.name), at = ids.indexOf(ED.id);
  const tool = (name, label, key) => el("button", { class: `edit-control tool${ED.tool === name ? " on" : ""}`, id: `tool-${name}`, title: `${label} (${key})`, onclick: () => { ED.tool = name; renderItem(); } }, label);
  const { n } = changes();
  const bar = el("div", { class: "controls", id: "ed-toolbar" },
    el("a", { href: `#/d/${enc(ED.name)}${ED.params.toString() ? "?" + pinQuery(ED.params) : ""}`, id: "ed-back" }, "◀ grid"),
    el("button", { id: "ed-prev", disabled: at > 0 ? null : "", title: "previous item (←, p)", onclick: () => go(-1) }, "‹ prev"),
    el("button", { id: "ed-next", disabled: at >= 0 && at + 1 < ids.length ? null : "", title: "next item (→, n)", onclick: () => go(1) }, "next ›"),
    el("span", { class: "sep" }),
    el("button", { id: "zoom-out", title: "zoom out (-)", onclick: () => zoomAt(1 / 1.25) }, "−"),
    el("button", { id: "zoom-in", title: "zoom in (+)", onclick: () => zoomAt(1.25) }, "+"),
    el("button", { id: "zoom-fit", title: "fit (0)", onclick: fit }, "fit"),
    el("button", { id: "zoom-1", title: "actual pixels (1)", onclick: () => zoomTo(1) }, "1:1"),
    el("span", { class: "muted", id: "zoom-level" }, `${Math.round(ED.s * 100)}%`),
    ...(editing ? [el("span", { class: "sep" }), tool("select", "Select", "v"), tool("draw", "Draw box", "b"), tool("pan", "Pan", "space"),
      el("button", { class: "edit-control", id: "ed-undo", disabled: ED.undo.length ? null : "", title: "undo (Ctrl+Z)", onclick: undo }, "Undo"),
      el("button", { class: "edit-control", id: "ed-redo", disabled: ED.redo.length ? null : "", title: "redo (Ctrl+Shift+Z)", onclick: redo }, "Redo"),
      el("input", { class: "edit-control", id: "ed-message", placeholder: "message for this version", size: "28", value: ED.message || "", oninput: (e) => { ED.message = e.target.value; } }),
      el("button", { class: "edit-control primary", id: "ed-save", disabled: n && !ED.saving ? null : "", title: "save as one new version (Ctrl+S)", onclick: save }, ED.saving ? "Saving…" : n ? `Save ${n} change${n > 1 ? "s" : ""}` : "Saved")] : []));
  const note = ED.params.toString() && pinQuery(ED.params).toString()
    ? el("p", { class: "muted", id: "ed-readonly" }, `Version ${ED.base}, read only. `, el("a", { href: itemHash(ED.name, ED.id) }, "open the latest version"))
    : (AUTH.enabled && !AUTH.ok ? el("p", { class: "muted", id: "ed-readonly" }, "Read only: enter the API token (top right) to edit.") : "");
  const status = el("div", { id: "ed-status", class: ED.conflict ? "error" : "muted" }, ED.status || `${ED.item.split} · version ${ED.base}${n ? ` · ${n} unsaved change${n > 1 ? "s" : ""}` : ""}`);
  if (ED.conflict) status.append(" ", el("button", { id: "ed-reload", onclick: () => { ED.conflict = null; ED.status = ""; rerender(); } }, "Reload the item"), ED.conflictHint ? el("div", { class: "small" }, ED.conflictHint) : "");
  const stage = el("div", { id: "stage", class: `tool-${ED.space ? "pan" : ED.tool}` });
  stage.append(renderSvg());
  const side = el("aside", { id: "ed-side" }, el("h3", {}, `Entities (${entities().length})`), entityList(), el("div", { class: "muted small" },
    editing ? "v select · b draw · Delete removes · ←/→ items · Ctrl+Z undo · wheel zoom · drag empty space to pan" : "wheel zoom · drag to pan · ←/→ items"));
  const cats = el("datalist", { id: "ed-cats" }, ED.categories.map((c) => el("option", { value: c })));
  main().replaceChildren(el("h2", {}, `Item ${ED.id}`), bar, note, status, el("div", { class: "editor" }, stage, side), cats);
}

function renderSvg() {
  const svgEl = svg("svg", { id: "ed-svg" });
  const g = svg("g", { id: "ed-g", transform: `matrix(${ED.s} 0 0 ${ED.s} ${ED.tx} ${ED.ty})` });
  if (ED.view && ED.view.media_url) {
    const src = /\.(tiff?|bmp)$/i.test(ED.view.media_url) && ED.view.media_url.startsWith("/media/") ? ED.view.media_url + "?as=png" : ED.view.media_url;
    g.append(svg("image", { href: src, x: 0, y: 0, width: ED.W, height: ED.H, id: "ed-image", preserveAspectRatio: "none" }));
  }
  const layer = svg("g", { id: "ed-shapes" });
  layer.append(...shapes());
  g.append(layer);
  svgEl.append(g);
  svgEl.addEventListener("mousedown", onDown);
  svgEl.addEventListener("wheel", onWheel, { passive: false });
  svgEl.addEventListener("contextmenu", (e) => e.preventDefault());
  return svgEl;
}

// the annotations, in image pixels (the group's transform is the zoom and pan)
function shapes() {
  const g = [];
  g.push(svg("rect", { class: "frame", x: 0, y: 0, width: ED.W, height: ED.H }));
  const hs = 6 / ED.s;
  for (const [t, info] of Object.entries(ED.tables)) {
    if (info.group !== "annotations") continue;
    for (const a of ED.work[t] || []) {
      const d = a.data, ent = (d.entity_ref || {}).id || "";
      const sel = ent && ent === ED.selected;
      if (info.base_schema === "BBox" && d.coords && d.coords.length === 4) {
        const [x, y, w, h] = boxPx(d, ED.W, ED.H);
        g.push(svg("rect", { class: `box${sel ? " selected" : ""}`, x, y, width: w, height: h, "data-id": a.id, "data-table": t, "data-entity": ent }));
        if (sel && !ED.readOnly) {
          for (const [hx, hy, name] of [[x, y, "nw"], [x + w, y, "ne"], [x, y + h, "sw"], [x + w, y + h, "se"], [x + w / 2, y, "n"], [x + w / 2, y + h, "s"], [x, y + h / 2, "w"], [x + w, y + h / 2, "e"]]) {
            g.push(svg("rect", { class: `handle h-${name}`, x: hx - hs / 2, y: hy - hs / 2, width: hs, height: hs, "data-handle": name, "data-id": a.id, "data-table": t }));
          }
        }
      } else if (info.base_schema === "KeyPoints" && d.coords) {
        for (let i = 0; 2 * i + 1 < d.coords.length; i++) {
          if ((d.states || [])[i] === "invisible") continue;
          const [cx, cy] = kpPx(d, i, ED.W, ED.H);
          g.push(svg("circle", { class: `kp${sel ? " selected" : ""}`, cx, cy, r: (sel ? 5 : 4) / ED.s, "data-id": a.id, "data-table": t, "data-i": i, "data-entity": ent }));
        }
      }
    }
  }
  return g;
}

function redraw() {
  const g = $("#ed-g");
  if (!g) return;
  g.setAttribute("transform", `matrix(${ED.s} 0 0 ${ED.s} ${ED.tx} ${ED.ty})`);
  $("#ed-shapes").replaceChildren(...shapes());
  const z = $("#zoom-level");
  if (z) z.textContent = `${Math.round(ED.s * 100)}%`;
}

function entityList() {
  const ul = el("ul", { id: "entities", class: "entities" });
  for (const e of entities()) {
    const o = (ED.orig[ED.entityTable] || []).find((r) => r.id === e.id);
    const state = !o ? "new" : JSON.stringify(o.data) !== JSON.stringify(e.data) || annotationsOf(e.id).some(([t, a]) => { const oa = (ED.orig[t] || []).find((r) => r.id === a.id); return !oa || JSON.stringify(oa.data) !== JSON.stringify(a.data); }) ? "changed" : "";
    const sel = e.id === ED.selected;
    const hasCategory = "category" in e.data;
    const cat = sel && !ED.readOnly && hasCategory
      ? el("input", { class: "edit-control category-input", id: "category-input", list: "ed-cats", value: e.data.category, "data-entity": e.id,
        onkeydown: (ev) => { if (ev.key === "Enter") { ev.preventDefault(); setCategory(e.id, ev.target.value); } if (ev.key === "Escape") ev.target.blur(); },
        onchange: (ev) => setCategory(e.id, ev.target.value) })
      : el("span", { class: "category" }, hasCategory ? (e.data.category || "(no category)") : e.id);
    ul.append(el("li", { class: `${sel ? "selected" : ""} ${state}`, "data-id": e.id, onclick: (ev) => { if (ev.target.tagName !== "INPUT" && ev.target.tagName !== "BUTTON") select(e.id); } },
      cat, state ? el("span", { class: `badge ${state}` }, state) : "",
      el("div", { class: "muted small source" }, sourceLabel(e.id)),
      ED.readOnly ? "" : el("button", { class: "edit-control delete-entity", title: "delete the entity and its annotations (Delete)", onclick: () => deleteEntity(e.id) }, "delete")));
  }
  return ul;
}

// --- edits ---------------------------------------------------------------------------------------------------------
function select(id) { ED.selected = id; renderItem(); }

// while a save is on its way the item takes no edit (pan and zoom only): the reply reads the item again
function setCategory(id, value) {
  if (ED.saving) return;
  const e = rowById(ED.entityTable, id);
  value = value.trim();
  if (!e || e.data.category === value) return;
  snapshot();
  e.data.category = value;
  ED.lastCategory = value;
  if (value && !ED.categories.includes(value)) ED.categories.push(value);
  renderItem();
}

function deleteEntity(id) {
  if (!id || ED.saving || !rowById(ED.entityTable, id)) return;
  snapshot();
  ED.work[ED.entityTable] = ED.work[ED.entityTable].filter((r) => r.id !== id);
  for (const [t, info] of Object.entries(ED.tables)) if (info.group === "annotations") ED.work[t] = (ED.work[t] || []).filter((a) => !(a.data.entity_ref && a.data.entity_ref.id === id));
  if (ED.selected === id) ED.selected = null;
  renderItem();
}

function addBox(rect) {
  if (!ED.entityTable || !ED.bboxTable) { ED.status = "this dataset has no entity or bbox table to draw into"; renderItem(); return; }
  snapshot();
  const entityId = newId();
  const itemRef = { name: "item", id: ED.id };
  const viewRef = ED.view ? { name: ED.viewTable, id: ED.view.id } : { name: "", id: "" };
  const entity = { id: entityId, data: { item_ref: itemRef, view_ref: viewRef, parent_ref: { name: "", id: "" } } };
  const sample = (ED.orig[ED.entityTable] || [])[0];
  if ((sample && "category" in sample.data) || ED.categories.length || ED.item.categories[ED.entityTable] !== undefined) entity.data.category = ED.lastCategory || ED.categories[0] || "";
  const box = { id: newId(), data: { item_ref: itemRef, view_ref: viewRef, entity_ref: { name: ED.entityTable, id: entityId }, source_ref: { name: "", id: "" }, coords: [0, 0, 0, 0], format: "xywh", is_normalized: ED.normalised, confidence: 1.0 } };
  setBoxPx(box.data, rect, ED.W, ED.H);
  ED.work[ED.entityTable].push(entity);
  ED.work[ED.bboxTable].push(box);
  ED.selected = entityId;
  ED.tool = "select";
  renderItem();
  const input = $("#category-input");
  if (input) { input.focus(); input.select(); }
}

// why a save was refused, in the words the reader acts on
function refusal(err) {
  if (err.status === 401) return `${err.message} (enter the token again)`;
  return `${err.message}${err.hint ? " — " + err.hint : ""}`;
}

async function save() {
  const { tables, n } = changes();
  if (!n || ED.saving) return; // one request per save: a second Ctrl+S while the first is on its way sends nothing
  if (viewOnScreen !== newestView) return; // app.js: the reader is on the way to another view
  const ed = ED; // this item's state: ED is another item's once the reader moves on
  ed.saving = true;
  ed.sent = JSON.stringify(ed.work); // what this save holds: an edit made after it is not on its way
  const btn = $("#ed-save");
  if (btn) btn.disabled = true;
  const asked = newestView; // app.js: a view asked for while this saves (the reader moved on) is not drawn over
  let out;
  try {
    out = await send("POST", `/items/${enc(ed.name)}/${enc(ed.id)}/edits`, { base_version: ed.base, message: ed.message || "", tables });
  } catch (err) {
    ed.saving = false;
    if (superseded(asked)) { leftBehind(ed, `not saved: ${refusal(err)}`, "error"); return; }
    if (err.status === 409) { ED.conflict = true; ED.conflictHint = err.hint || ""; ED.status = `Not saved: ${err.message}`; }
    else ED.status = `Not saved: ${refusal(err)}`;
    renderItem();
    return;
  }
  const msg = `saved as version ${out.dataset_version}`;
  if (superseded(asked)) { leftBehind(ed, msg, "ok"); return; }
  const t = ticket();
  try {
    if (!(await showItem(ed.name, ed.id, new URLSearchParams(), t))) return;
    ED.status = msg;
  } catch (err) {
    if (superseded(t)) return;
    ED.saving = false;
    ED.status = `${msg}; reading it back failed: ${err.message}`;
  }
  renderItem();
}

// a save whose reply came after the reader moved on: the page they are on says how it ended; if they
// came back to that item and changed nothing since, it is read again (it was read before the save landed)
function leftBehind(ed, text, kind) {
  notify(`${ed.name} / ${ed.id}: ${text}`, itemHash(ed.name, ed.id), kind);
  const back = ED && ED !== ed && ED.name === ed.name && ED.id === ed.id && $("#ed-svg");
  if (back && !changes().n && viewOnScreen === newestView) rerender();
}

function go(step) {
  const ids = gridIds(ED.name), at = ids.indexOf(ED.id);
  const next = ids[at + step];
  if (at < 0 || !next) return;
  if (!leaveItem()) return;
  ED.leaving = true; // asked once: the hash change that follows does not ask again
  location.hash = itemHash(ED.name, next, ED.params);
}

// app.js asks before any hash change (prev / next, the grid link, browser back or forward, a typed address):
// true when no item with unsaved edits is shown, or the annotator agrees to drop them
function leaveItem() {
  if (!ED || !$("#ed-svg") || ED.readOnly || ED.leaving) return true;
  // the edits are on their way (and none made since): the page the reader goes to says how the save ended
  if (ED.saving && JSON.stringify(ED.work) === ED.sent) return true;
  return !changes().n || confirm("Discard the unsaved changes of this item?");
}

// --- zoom and pan: the view transform maps image pixels to the stage; pointer positions go back exactly -----------
function stageSize() { const r = $("#ed-svg").getBoundingClientRect(); return [r.width, r.height]; }
function fit() {
  if (!$("#ed-svg")) return;
  const [sw, sh] = stageSize();
  ED.s = Math.min(sw / ED.W, sh / ED.H, 8);
  ED.tx = (sw - ED.W * ED.s) / 2; ED.ty = (sh - ED.H * ED.s) / 2;
  redraw();
}
function zoomTo(s) { const [sw, sh] = stageSize(); zoomAround(s / ED.s, sw / 2, sh / 2); }
function zoomAt(f) { const [sw, sh] = stageSize(); zoomAround(f, sw / 2, sh / 2); }
function zoomAround(f, cx, cy) {
  const s = clamp(ED.s * f, 0.05, 64);
  f = s / ED.s;
  ED.tx = cx - (cx - ED.tx) * f; ED.ty = cy - (cy - ED.ty) * f; ED.s = s;
  redraw();
}
function toImage(ev) {
  const g = $("#ed-g");
  const pt = $("#ed-svg").createSVGPoint();
  pt.x = ev.clientX; pt.y = ev.clientY;
  const p = pt.matrixTransform(g.getScreenCTM().inverse());
  return [p.x, p.y];
}

function onWheel(ev) {
  ev.preventDefault();
  const r = $("#ed-svg").getBoundingClientRect();
  zoomAround(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - r.left, ev.clientY - r.top);
}

function onDown(ev) {
  const p = toImage(ev);
  const t = ev.target;
  if (ev.button === 1 || ev.button === 2 || ED.space || ED.tool === "pan" || ED.readOnly || ED.saving) { ED.drag = { kind: "pan", x: ev.clientX, y: ev.clientY, tx: ED.tx, ty: ED.ty }; ev.preventDefault(); return; }
  if (ED.tool === "draw") { ED.drag = { kind: "draw", p0: [clamp(p[0], 0, ED.W), clamp(p[1], 0, ED.H)], p }; ev.preventDefault(); return; }
  const id = t.getAttribute && t.getAttribute("data-id"), table = t.getAttribute && t.getAttribute("data-table");
  if (t.classList.contains("handle")) {
    ED.drag = { kind: "resize", handle: t.getAttribute("data-handle"), table, id, start: p, box: boxPx(rowById(table, id).data, ED.W, ED.H), before: JSON.stringify(ED.work) };
  } else if (t.classList.contains("kp")) {
    ED.selected = t.getAttribute("data-entity") || ED.selected;
    ED.drag = { kind: "kp", table, id, i: Number(t.getAttribute("data-i")), before: JSON.stringify(ED.work) };
  } else if (t.classList.contains("box")) {
    const ent = t.getAttribute("data-entity");
    if (ent !== ED.selected) { ED.selected = ent; renderItem(); }
    ED.drag = { kind: "move", table, id, start: p, box: boxPx(rowById(table, id).data, ED.W, ED.H), before: JSON.stringify(ED.work) };
  } else {
    if (ED.selected) { ED.selected = null; renderItem(); }
    ED.drag = { kind: "pan", x: ev.clientX, y: ev.clientY, tx: ED.tx, ty: ED.ty };
  }
  ev.preventDefault();
}

function onMove(ev) {
  const d = ED && ED.drag;
  if (!d) return;
  if (d.kind === "pan") { ED.tx = d.tx + ev.clientX - d.x; ED.ty = d.ty + ev.clientY - d.y; redraw(); return; }
  const p = toImage(ev);
  if (d.kind === "draw") {
    d.p = [clamp(p[0], 0, ED.W), clamp(p[1], 0, ED.H)];
    let ghost = $("#ed-ghost");
    if (!ghost) { ghost = svg("rect", { id: "ed-ghost", class: "box drawing" }); $("#ed-shapes").append(ghost); }
    const [x0, y0] = d.p0, [x1, y1] = d.p;
    for (const [k, v] of Object.entries({ x: Math.min(x0, x1), y: Math.min(y0, y1), width: Math.abs(x1 - x0), height: Math.abs(y1 - y0) })) ghost.setAttribute(k, v);
    return;
  }
  const row = rowById(d.table, d.id);
  if (!row) return;
  if (d.kind === "move") {
    const [x, y, w, h] = d.box;
    const nx = clamp(x + p[0] - d.start[0], 0, ED.W - w), ny = clamp(y + p[1] - d.start[1], 0, ED.H - h);
    setBoxPx(row.data, [nx, ny, w, h], ED.W, ED.H);
  } else if (d.kind === "resize") {
    let [x0, y0, x1, y1] = [d.box[0], d.box[1], d.box[0] + d.box[2], d.box[1] + d.box[3]];
    const [px, py] = [clamp(p[0], 0, ED.W), clamp(p[1], 0, ED.H)];
    if (d.handle.includes("w")) x0 = px;
    if (d.handle.includes("e")) x1 = px;
    if (d.handle.includes("n")) y0 = py;
    if (d.handle.includes("s")) y1 = py;
    setBoxPx(row.data, [Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0)], ED.W, ED.H);
  } else if (d.kind === "kp") {
    setKpPx(row.data, d.i, p, ED.W, ED.H);
  }
  d.moved = true;
  redraw();
}

function onUp() {
  const d = ED && ED.drag;
  if (!d) return;
  ED.drag = null;
  if (d.kind === "draw") {
    const [x0, y0] = d.p0, [x1, y1] = d.p;
    if (Math.abs(x1 - x0) >= 2 && Math.abs(y1 - y0) >= 2) addBox([Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0)]);
    else redraw();
    return;
  }
  if (d.before && d.moved && d.before !== JSON.stringify(ED.work)) { ED.undo.push(d.before); ED.redo = []; }
  if (d.kind !== "pan") renderItem();
}

// moves and releases are followed on the window, so a drag that leaves the stage still ends
window.addEventListener("mousemove", onMove);
window.addEventListener("mouseup", onUp);

document.addEventListener("keydown", (ev) => {
  if (!ED || !$("#ed-svg")) return;
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes((ev.target.tagName || "").toUpperCase());
  const mod = ev.ctrlKey || ev.metaKey;
  if (mod && ev.key.toLowerCase() === "s" && !ED.readOnly) { ev.preventDefault(); save(); return; }
  if (typing) return;
  if (mod && ev.key.toLowerCase() === "z" && !ED.readOnly && !ED.saving) { ev.preventDefault(); (ev.shiftKey ? redo : undo)(); return; }
  if (mod && ev.key.toLowerCase() === "y" && !ED.readOnly && !ED.saving) { ev.preventDefault(); redo(); return; }
  if (mod) return;
  const key = ev.key;
  if (key === "ArrowRight" || key === "n") go(1);
  else if (key === "ArrowLeft" || key === "p") go(-1);
  else if ((key === "Delete" || key === "Backspace") && !ED.readOnly && ED.selected) { ev.preventDefault(); deleteEntity(ED.selected); }
  else if (key === "Escape") { ED.drag = null; ED.selected = null; renderItem(); }
  else if (key === "v" && !ED.readOnly) { ED.tool = "select"; renderItem(); }
  else if (key === "b" && !ED.readOnly) { ED.tool = "draw"; renderItem(); }
  else if (key === "+" || key === "=") zoomAt(1.25);
  else if (key === "-") zoomAt(1 / 1.25);
  else if (key === "0") fit();
  else if (key === "1") zoomTo(1);
  else if (key === " ") { ev.preventDefault(); if (!ED.space) { ED.space = true; const st = $("#stage"); if (st) st.className = "tool-pan"; } }
});
document.addEventListener("keyup", (ev) => { if (ED && ev.key === " ") { ED.space = false; const st = $("#stage"); if (st) st.className = `tool-${ED.tool}`; } });

// --- review: restore the previous version, and a diff drawn on the item images -------------------------------------------
async function restorePrevious(name, v, latest) {
  if (!confirm(`Restore version ${v - 1}? This makes a new version equal to it (versions after it stay in the history).`)) return;
  const out = $("#review-status");
  const asked = newestView; // app.js: the reader may move on while this restores
  try {
    const r = await send("POST", `/datasets/${enc(name)}/restore`, { version: v - 1, base_version: latest, message: `undo version ${v}` });
    if (out) out.textContent = `restored version ${v - 1} as version ${r.dataset_version}`;
    if (!superseded(asked)) rerender();
  } catch (err) {
    if (out) { out.className = "error"; out.textContent = `Not restored: ${err.message}`; }
  }
}

async function visualDiff(name, v, info) {
  const box = $("#visual-diff");
  box.replaceChildren(el("p", { class: "muted" }, `Comparing version ${v - 1} and ${v}…`));
  const d = await api(`/datasets/${enc(name)}/diff?a=${v - 1}&b=${v}`);
  const tables = info.tables || {};
  const bboxTables = Object.keys(d.tables).filter((t) => (tables[t] || {}).base_schema === "BBox");
  const changes = {}; // item id -> {added: [coords], removed: [...], old: [...], now: [...]}
  const touch = (id) => (changes[id] = changes[id] || { added: [], removed: [] });
  for (const t of bboxTables) {
    const ids = (kind) => d.ids.filter((x) => x.table === t && x.change === kind).map((x) => x.id).slice(0, 200);
    const fetchRows = async (version, list) => {
      if (!list.length) return [];
      const q = new URLSearchParams({ version, limit: 1000 });
      for (const id of list) q.append("id", id);
      return api(`/annotations/${enc(name)}/${enc(t)}/?${q}`);
    };
    const [after, before] = await Promise.all([fetchRows(v, [...ids("added"), ...ids("changed")]), fetchRows(v - 1, [...ids("removed"), ...ids("changed")])]);
    for (const r of after) touch(r.data.item_ref.id).added.push(r);
    for (const r of before) touch(r.data.item_ref.id).removed.push(r);
  }
  const summary = Object.entries(d.tables).filter(([, c]) => c.added || c.removed || c.changed).map(([t, c]) => `${t} +${c.added} −${c.removed} ~${c.changed}`).join(" · ") || "no rows changed";
  const figs = [];
  for (const id of Object.keys(changes).slice(0, 12)) {
    let it;
    try { it = await api(`/items/${enc(name)}/${enc(id)}?version=${v}`); } catch (err) { it = await api(`/items/${enc(name)}/${enc(id)}?version=${v - 1}`).catch(() => null); }
    if (!it) continue;
    const fig = thumb(it);
    const overlay = fig.querySelector("svg");
    const W = (Object.values(it.views || {}).find(Boolean) || { data: {} }).data.width || 1;
    const H = (Object.values(it.views || {}).find(Boolean) || { data: {} }).data.height || 1;
    const c = changes[id];
    for (const [rows, cls] of [[c.removed, "diff-removed"], [c.added, "diff-added"]]) {
      for (const r of rows) { const [x, y, w, h] = boxPx(r.data, W, H); overlay.append(svg("rect", { class: `box ${cls}`, x, y, width: w, height: h, "data-id": r.id })); }
    }
    fig.classList.add("diff-item");
    fig.querySelector(".cap").textContent = `${id} · +${c.added.length} −${c.removed.length}`;
    fig.onclick = () => { location.hash = itemHash(name, id); };
    figs.push(fig);
  }
  box.replaceChildren(el("p", {}, `Version ${v - 1} → ${v}: ${summary}. `, el("span", { class: "legend added" }, "added"), " ", el("span", { class: "legend removed" }, "removed"), " (moved: both)"),
    figs.length ? el("div", { id: "diff-grid", class: "grid-small" }, figs) : el("p", { class: "muted" }, "No box changed."));
}
