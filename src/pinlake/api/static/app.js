// pinlake browser page: datasets, a paged item grid with boxes and keypoints, versions (lineage, channel status, review), diff.
// The item view and its editor are in editor.js (loaded first).
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const main = () => $("#main");
const SVGNS = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

async function api(path) {
  const resp = await fetch(path, { headers: { accept: "application/json" } });
  const body = await resp.json().catch(() => ({ error: resp.statusText }));
  if (!resp.ok) {
    const err = new Error(body.error || resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return body;
}

function fmtBytes(n) {
  if (n == null) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function parseHash() {
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query) };
}

function setParams(name, params) {
  for (const [k, v] of [...params.entries()]) if (v === "" || v == null) params.delete(k);
  const q = params.toString();
  location.hash = `#/d/${encodeURIComponent(name)}${q ? "?" + q : ""}`;
}

// Each view asked for takes the next ticket; a view whose data comes back after a later one was asked
// for is not drawn (the grid asked for before an item was opened, say, or the same address twice):
// the show* functions return false then. The latest view asked for is the one on screen.
let newestView = 0; // the ticket of the latest view asked for
let viewOnScreen = 0; // the ticket of the view drawn last (a view loading: newestView is ahead of it)
const ticket = () => ++newestView;
const superseded = (t) => t !== newestView;
const drew = (t) => { viewOnScreen = t; return true; };

// --- datasets ------------------------------------------------------------------------
async function showDatasets(t = ticket()) {
  $("#crumb").textContent = "";
  const list = await api("/datasets/");
  if (superseded(t)) return false;
  const cards = el("div", { class: "cards", id: "datasets" });
  for (const d of list) {
    if (d.error) { cards.append(el("div", { class: "card error" }, `${d.name}: ${d.error}`)); continue; }
    cards.append(el("a", { class: "card dataset-card", href: `#/d/${encodeURIComponent(d.name)}`, "data-name": d.name },
      d.preview_url ? el("img", { src: d.preview_url, alt: `preview of ${d.name}` }) : el("img", { alt: "" }),
      el("div", { class: "body" },
        el("div", { class: "title" }, d.title || d.name),
        el("div", { class: "muted" }, d.description || ""),
        el("div", {}, `${d.num_items} items · ${fmtBytes(d.size_bytes)} · v${d.latest_version}`, ...channelBadge(d)))));
  }
  main().replaceChildren(el("h2", {}, "Datasets"), list.length ? cards : el("p", { class: "muted" }, "No datasets in this library."));
  return drew(t);
}

// --- one dataset ---------------------------------------------------------------------------
function pinQuery(params) {
  const q = new URLSearchParams();
  if (params.get("tag")) q.set("tag", params.get("tag"));
  else if (params.get("version")) q.set("version", params.get("version"));
  return q;
}

async function showDataset(name, params, t = ticket()) {
  $("#crumb").replaceChildren("/ ", el("a", { href: `#/d/${encodeURIComponent(name)}` }, name));
  const pin = pinQuery(params);
  const [info, versions] = await Promise.all([api(`/datasets/${encodeURIComponent(name)}?${pin}`), api(`/datasets/${encodeURIComponent(name)}/versions`)]);
  const size = Number(params.get("size") || 24);
  const page = Number(params.get("page") || 0);
  const split = params.get("split") || "";

  const versionSel = el("select", { id: "version-select", onchange: (e) => {
    const v = e.target.value; params.delete("version"); params.delete("tag"); params.delete("page");
    if (v.startsWith("tag:")) params.set("tag", v.slice(4)); else if (v) params.set("version", v);
    setParams(name, params);
  } }, el("option", { value: "" }, `latest (v${info.latest_version})`));
  for (const v of [...versions].reverse()) {
    versionSel.append(el("option", { value: String(v.dataset_version) }, `v${v.dataset_version} · ${v.operation}`));
    for (const t of v.tags || []) versionSel.append(el("option", { value: `tag:${t}` }, `tag ${t} (v${v.dataset_version})`));
  }
  versionSel.value = params.get("tag") ? `tag:${params.get("tag")}` : (params.get("version") || "");

  const splitSel = el("select", { id: "split-select", onchange: (e) => { params.set("split", e.target.value); params.delete("page"); setParams(name, params); } },
    el("option", { value: "" }, "all splits"), ...Object.keys(info.splits || {}).map((s) => el("option", { value: s }, `${s} (${info.splits[s]})`)));
  splitSel.value = split;
  const sizeSel = el("select", { id: "page-size", onchange: (e) => { params.set("size", e.target.value); params.delete("page"); setParams(name, params); } },
    ...[12, 24, 48, 96].map((n) => el("option", { value: String(n) }, String(n))));
  sizeSel.value = String(size);

  const q = new URLSearchParams(pin);
  q.set("limit", size); q.set("skip", page * size);
  if (split) q.set("split", split);
  const data = await api(`/items/${encodeURIComponent(name)}/?${q}`);
  if (superseded(t)) return false;
  const pages = Math.max(1, Math.ceil(data.total / size));
  const go = (p) => { params.set("page", p); setParams(name, params); };

  sessionStorage.setItem(`pinlake.grid.${name}`, JSON.stringify(data.items.map((it) => it.id))); // the item view's prev / next
  const grid = el("div", { id: "grid" }, data.items.map((it) => {
    const fig = thumb(it);
    fig.classList.add("open");
    fig.addEventListener("click", () => { location.hash = itemHash(name, it.id, params); });
    return fig;
  }));
  const status = el("span", { id: "grid-status" }, `${data.total} items · version ${data.dataset_version} · page ${page + 1}/${pages}`);
  main().replaceChildren(
    el("h2", {}, info.title || name, el("span", { class: "muted" }, `  ${info.description || ""}`)),
    el("div", { class: "controls" },
      el("label", {}, "Version ", versionSel), el("label", {}, "Split ", splitSel), el("label", {}, "Per page ", sizeSel),
      el("button", { id: "prev", disabled: page <= 0 ? "" : null, onclick: () => go(page - 1) }, "◀"),
      el("button", { id: "next", disabled: page + 1 >= pages ? "" : null, onclick: () => go(page + 1) }, "▶"),
      status),
    grid,
    el("div", { class: "cols" },
      el("section", {}, el("h3", {}, "Versions"), el("div", { id: "review-status", class: "muted" }), timeline(name, versions, info, params)),
      el("section", {}, el("h3", {}, "Diff"), diffPanel(name, versions), el("div", { id: "visual-diff" }))));
  return drew(t);
}

function thumb(it) {
  const views = Object.values(it.views || {}).filter(Boolean);
  const view = views[0];
  const frame = el("div", { class: "frame" });
  if (view && view.media_url) {
    const w = view.data.width || 1, h = view.data.height || 1;
    const src = /\.(tiff?|bmp)$/i.test(view.media_url) && view.media_url.startsWith("/media/") ? view.media_url + "?as=png" : view.media_url;
    frame.append(el("img", { src, alt: it.id, loading: "lazy" }));
    const overlay = svg("svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "xMidYMid meet", class: "overlay" });
    const anns = it.annotations || {};
    for (const rows of Object.values(anns)) {
      for (const a of rows || []) {
        const d = a.data, base = a.table_info.base_schema;
        const sx = d.is_normalized ? w : 1, sy = d.is_normalized ? h : 1;
        if (base === "BBox" && d.coords && d.coords.length === 4) {
          let [x, y, bw, bh] = d.coords;
          if (d.format === "xyxy") { bw -= x; bh -= y; }
          overlay.append(svg("rect", { class: "box", x: x * sx, y: y * sy, width: bw * sx, height: bh * sy }));
        } else if (base === "KeyPoints" && d.coords) {
          for (let i = 0; i + 1 < d.coords.length; i += 2) {
            if ((d.states || [])[i / 2] === "invisible") continue;
            overlay.append(svg("circle", { class: "kp", cx: d.coords[i] * sx, cy: d.coords[i + 1] * sy, r: Math.max(w, h) / 90 }));
          }
        }
      }
    }
    frame.append(overlay);
  }
  const meta = Object.entries(it.item || {}).map(([k, v]) => `${k}: ${v}`).join(" · ");
  return el("div", { class: "thumb", "data-id": it.id, title: it.id }, frame, el("div", { class: "cap" }, `${it.split}${meta ? " · " + meta : ""}`));
}

// --- write–audit–publish: a gated dataset's channel and each version's verdict ------------------
function channelBadge(d) {
  if (!d.channel) return [];
  const v = (d.published || {})[d.channel];
  return [el("span", { class: `badge ${v ? "published live" : "candidate"}`, title: `refreshes publish on the channel ${d.channel}` },
    v ? `${d.channel} v${v}` : `${d.channel}: nothing published`)];
}

function statusBadge(v, info) {
  if (!v.status) return [];
  const live = Object.entries(info.published || {}).filter(([, n]) => n === v.dataset_version).map(([c]) => c).sort();
  const failed = v.failed_checks || [];
  const channel = info.channel || "the channel";
  const shown = {
    published: [live.length ? `published · ${live.join(", ")}` : "published",
      live.length ? `passed its checks; ${live.join(", ")} serves this version` : "passed its checks; the channel has moved on since"],
    candidate: ["candidate", `built, not audited yet: ${channel} does not serve it`],
    quarantined: [failed.length ? `quarantined · ${failed.join(", ")}` : "quarantined",
      `failed checks: ${failed.join(", ") || "none recorded"}; ${channel} does not serve it`],
  }[v.status] || [v.status, ""];
  return [el("span", { class: `badge ${v.status}${live.length ? " live" : ""}`, "data-status": v.status, title: shown[1] }, shown[0])];
}

function timeline(name, versions, info, params) {
  const ul = el("ul", { class: "timeline", id: "timeline" });
  const current = info.version;
  for (const v of [...versions].reverse()) {
    const badge = statusBadge(v, info);
    const channels = new Set(Object.keys(info.published || {}).filter((c) => info.published[c] === v.dataset_version));
    const s = v.summary || {};
    const lin = [
      s.lock_hash && `lock ${s.lock_hash.slice(0, 12)}`,
      s.recipe_hash && `recipe ${s.recipe_hash.slice(0, 12)}`,
      s.lake_version && `lake v${s.lake_version}`,
      s.run_id && `run ${s.run_id.slice(0, 12)}`,
      s.flow_run_id && `flow run ${s.flow_run_id.slice(0, 12)}`,
      s.user && s.source_kind !== "human" && `by ${s.user}`,
    ].filter(Boolean).join(" · ");
    const latest = versions.length ? versions[versions.length - 1].dataset_version : 0;
    const human = s.source_kind === "human";
    const review = v.dataset_version > 1 ? [
      el("button", { class: "diff-prev small", "data-version": v.dataset_version, title: "draw what changed on the item images",
        onclick: () => { const box = $("#visual-diff"); visualDiff(name, v.dataset_version, info).catch((err) => { box.replaceChildren(el("p", { class: "error" }, err.message)); }); } }, "diff with previous"),
      canEdit() ? el("button", { class: "edit-control restore-prev small", "data-version": v.dataset_version, title: `a new version equal to v${v.dataset_version - 1}`,
        onclick: () => restorePrevious(name, v.dataset_version, latest) }, `restore v${v.dataset_version - 1}`) : "",
    ] : [];
    ul.append(el("li", { class: v.dataset_version === current ? "current" : "", "data-version": v.dataset_version, "data-status": v.status || null },
      el("a", { href: "#", onclick: (e) => { e.preventDefault(); params.delete("tag"); params.delete("page"); params.set("version", v.dataset_version); setParams(name, params); } }, `v${v.dataset_version}`),
      ` ${v.operation} `, ...(human ? [el("span", { class: "badge human", title: "annotated by hand in the editor" }, "human"), el("strong", { class: "author" }, ` ${s.user}`)] : []), ...badge, ...(v.tags || []).filter((t) => !badge.length || !channels.has(t)).map((t) => el("span", { class: "tag" }, t)),
      el("div", { class: "muted" }, `${v.created_at.replace("T", " ").slice(0, 19)} · ${v.rows.item ?? 0} items${v.message ? " · " + v.message : ""}`),
      el("div", { class: "lin" }, lin || (human ? "" : "no lineage recorded")), ...review));
  }
  return ul;
}

function diffPanel(name, versions) {
  const opts = () => versions.map((v) => el("option", { value: v.dataset_version }, `v${v.dataset_version}`));
  const a = el("select", { id: "diff-a" }, opts()), b = el("select", { id: "diff-b" }, opts());
  if (versions.length > 1) a.value = versions[versions.length - 2].dataset_version;
  b.value = versions.length ? versions[versions.length - 1].dataset_version : "";
  const out = el("div", { id: "diff-result" });
  const run = async () => {
    out.replaceChildren(el("p", { class: "muted" }, "Comparing…"));
    const va = versions.find((v) => String(v.dataset_version) === a.value), vb = versions.find((v) => String(v.dataset_version) === b.value);
    try {
      const d = await api(`/datasets/${encodeURIComponent(name)}/diff?a=${a.value}&b=${b.value}`);
      const rows = Object.entries(d.tables).map(([t, c]) => el("tr", {}, el("td", {}, t), el("td", {}, `+${c.added}`), el("td", {}, `−${c.removed}`), el("td", {}, `~${c.changed}`)));
      out.replaceChildren(el("table", { class: "diff" }, el("tr", {}, el("th", {}, "table"), el("th", {}, "added"), el("th", {}, "removed"), el("th", {}, "changed")), rows));
    } catch (err) {
      // without the history layer: compare row counts from the version log
      const tables = [...new Set([...Object.keys(va.rows), ...Object.keys(vb.rows)])].sort();
      const rows = tables.map((t) => el("tr", {}, el("td", {}, t), el("td", {}, va.rows[t] ?? 0), el("td", {}, vb.rows[t] ?? 0), el("td", {}, (vb.rows[t] ?? 0) - (va.rows[t] ?? 0))));
      out.replaceChildren(el("p", { class: "muted" }, `Row-level diff unavailable (${err.message}); row counts:`),
        el("table", { class: "diff" }, el("tr", {}, el("th", {}, "table"), el("th", {}, `v${a.value}`), el("th", {}, `v${b.value}`), el("th", {}, "Δ")), rows));
    }
  };
  return el("div", {}, el("div", { class: "controls" }, el("label", {}, "from ", a), el("label", {}, "to ", b), el("button", { id: "diff-run", onclick: run }, "Compare")), out);
}

// lines under the header that stay across views until closed, one per message: how each save the
// reader left behind ended (an error line is announced at once)
function notify(text, href, kind = "ok") {
  const line = el("p", { class: kind, role: kind === "error" ? "alert" : null });
  // a link to the address on screen does not change it: read the view again instead
  const link = el("a", { href, onclick: (e) => { if (location.hash === href) { e.preventDefault(); rerender(); } } }, text);
  line.append(href ? link : text, " ", el("button", { class: "close", title: "close", "aria-label": "close", onclick: () => line.remove() }, "×"));
  $("#notice").append(line);
}

let shownHash = location.hash; // the address of the latest view asked for (route() draws it)

async function route() {
  shownHash = location.hash;
  const { parts, params } = parseHash();
  const t = ticket();
  try {
    let shown;
    if (parts[0] === "d" && parts[1] && parts[2] === "item" && parts[3]) shown = await showItem(parts[1], parts[3], params, t);
    else if (parts[0] === "d" && parts[1]) shown = await showDataset(parts[1], params, t);
    else shown = await showDatasets(t);
    if (!shown) return; // a later view is on its way: it sets ready
    document.body.dataset.ready = location.hash || "#/";
  } catch (err) {
    if (superseded(t)) return;
    main().replaceChildren(el("p", { class: "error", id: "error" }, err.message), el("a", { href: "#/" }, "Back to datasets"));
    document.body.dataset.ready = "error";
  }
}

window.addEventListener("hashchange", () => {
  // leaving an item with unsaved edits asks first (editor.js); staying puts the item's address back, without a reload
  if (!leaveItem()) { history.replaceState(history.state, "", shownHash || "#/"); return; }
  document.body.dataset.ready = ""; route();
});
loadAuth().finally(route); // editor.js: whether this server takes writes and this browser has its token
