/* The path explorer of docs/explorer.md: an architecture and a head, their score terms by kind,
 * the logit paths by order and the graph, from data the package wrote at build time
 * (docs/_ext/explorer.py). Plain script, no server: the data are scripts, loaded on demand. */
(function () {
  "use strict";
  const D = window.EXPLORER_DATA;
  const ARCHS = (window.EXPLORER_ARCHS = window.EXPLORER_ARCHS || {});
  const TABLES = (window.EXPLORER_TABLES = window.EXPLORER_TABLES || {});
  const root = document.getElementById("explorer");
  const BASE = document.currentScript.src.replace(/explorer\.js(\?.*)?$/, "explorer/");
  const KINDS = D.kinds;
  const KIND_NAMES = { none: "no composition", Q: "Q-composition", K: "K-composition", QK: "Q- and K-composition" };
  const SVG = "http://www.w3.org/2000/svg";

  const state = {
    heads: root.dataset.heads.split(",").map(Number), positional: "none", ln: false,
    biases: false, layer: Number(root.dataset.layer), head: Number(root.dataset.head),
    kind: "all", page: 0, order: "all", logitPage: 0, selected: null,
  };

  // ---- counts in closed form (BigInt), for architectures beyond the listed set ----------------
  function esym(heads) { // coefficients of Π (1 + h x): the paths of each order
    let poly = [1n];
    for (const h of heads) {
      const next = poly.concat([0n]);
      for (let k = 0; k < poly.length; k++) next[k + 1] += poly[k] * BigInt(h);
      poly = next;
    }
    return poly;
  }
  function sources(positional) { return positional === "standard" ? 2n : 1n; }
  function logitCounts(a) { // by order: s e_k, plus with biases each layer's constant and b_U
    const out = esym(a.heads).map((n) => n * sources(a.positional));
    if (a.biases) {
      a.heads.forEach((_, l) => esym(a.heads.slice(l + 1)).forEach((n, k) => { out[k] += n; }));
      out[0] += 1n;
    }
    return out;
  }
  function kindCounts(a, layer) { // n0 sides through no head, n sides in all (scores.side_counts)
    const before = a.heads.slice(0, layer);
    const N = before.reduce((p, h) => p * BigInt(1 + h), 1n);
    const extra = BigInt(a.positional === "shortformer") + BigInt(a.biases);
    let n0 = sources(a.positional) + extra, n = sources(a.positional) * N + extra;
    if (a.biases) {
      n0 += BigInt(layer);
      before.forEach((_, l) => { n += before.slice(l + 1).reduce((p, h) => p * BigInt(1 + h), 1n); });
    }
    return { none: n0 * n0, Q: (n - n0) * n0, K: n0 * (n - n0), QK: (n - n0) * (n - n0) };
  }

  // ---- the data files -----------------------------------------------------------------------
  function variant(a) { return `${a.positional}_${Number(a.ln)}${Number(a.biases)}`; }
  function archKey(a) { return `${a.heads.join("-")}_${variant(a)}`; }
  function tableKey(a, layer) { return `${a.heads.slice(0, layer).join("-") || "L0"}_${variant(a)}`; }
  function listed(a) {
    return a.heads.length >= 1 && a.heads.length <= D.bound.layers &&
      a.heads.every((h) => h >= 1 && h <= D.bound.heads);
  }
  function load(store, file, name) {
    if (store[name]) return Promise.resolve(store[name]);
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = BASE + file + ".js";
      script.onload = () => (store[name] ? resolve(store[name]) : reject(new Error(file)));
      script.onerror = () => reject(new Error(`the explorer's data ${file}.js is missing`));
      document.head.appendChild(script);
    });
  }

  // ---- helpers ------------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }
  function fmt(n) { return BigInt(n).toLocaleString("en-US"); }
  function math(tex) { return el("span", { class: "ex-math mathjax_process" }, `\\(${tex}\\)`); }
  function typeset(node) {
    const mj = window.MathJax;
    if (!mj || !mj.typesetPromise) return Promise.resolve(); // startup typesets the whole page
    return mj.startup.promise.then(() => mj.typesetPromise([node]));
  }
  function clear(node) {
    const mj = window.MathJax;
    if (mj && mj.typesetClear) mj.typesetClear([node]);
    node.replaceChildren();
  }
  function flags(a) {
    return (a.positional === "none" ? "" : ` --positional ${a.positional}`) +
      (a.ln ? " --normalization LN" : "") + (a.biases ? " --biases" : "");
  }

  // ---- the controls -------------------------------------------------------------------------
  const ui = {};
  function controls() {
    ui.preset = el("select", { id: "ex-preset", "aria-label": "architecture" });
    for (const p of D.presets) {
      ui.preset.append(el("option", { value: p.join(",") }, `${p.length} layer${p.length > 1 ? "s" : ""} × ${p[0]} head${p[0] > 1 ? "s" : ""}`));
    }
    ui.preset.append(el("option", { value: "custom" }, "custom…"));
    ui.heads = el("input", { id: "ex-heads", type: "text", size: "12", "aria-label": "heads per layer" });
    ui.apply = el("button", { id: "ex-apply", type: "button" }, "Apply");
    ui.positional = el("select", { id: "ex-positional", "aria-label": "positions" },
      ...D.positional.map((p) => el("option", { value: p }, p)));
    ui.ln = el("input", { id: "ex-ln", type: "checkbox" });
    ui.biases = el("input", { id: "ex-biases", type: "checkbox" });
    ui.head = el("select", { id: "ex-head", "aria-label": "head" });
    ui.message = el("p", { id: "ex-message", class: "ex-message", role: "status" });
    ui.preset.addEventListener("change", () => {
      if (ui.preset.value !== "custom") { ui.heads.value = ui.preset.value; applyHeads(); }
      else ui.heads.focus();
    });
    ui.apply.addEventListener("click", applyHeads);
    ui.heads.addEventListener("keydown", (e) => { if (e.key === "Enter") applyHeads(); });
    ui.positional.addEventListener("change", () => { state.positional = ui.positional.value; reset(); });
    ui.ln.addEventListener("change", () => { state.ln = ui.ln.checked; reset(); });
    ui.biases.addEventListener("change", () => { state.biases = ui.biases.checked; reset(); });
    ui.head.addEventListener("change", () => {
      [state.layer, state.head] = ui.head.value.split(",").map(Number); reset();
    });
    return el("div", { class: "ex-controls" },
      el("label", {}, "Architecture ", ui.preset),
      el("label", {}, "heads per layer ", ui.heads, " ", ui.apply),
      el("label", {}, "positions ", ui.positional),
      el("label", {}, ui.ln, " LayerNorm"),
      el("label", {}, ui.biases, " biases"),
      el("label", {}, "head ", ui.head));
  }
  function parseHeads(text) {
    const parts = text.split(",").map((s) => s.trim());
    const { layers, heads } = D.count_bound;
    if (!text.trim() || parts.length > layers) {
      throw new Error(`heads per layer "${text}": give 1 to ${layers} head counts separated by commas, such as 2,3,1`);
    }
    return parts.map((p) => {
      if (!/^\d+$/.test(p) || Number(p) > heads) {
        throw new Error(`heads per layer "${text}": "${p}" is not a head count from 0 to ${heads}`);
      }
      return Number(p);
    });
  }
  function applyHeads() {
    try {
      state.heads = parseHeads(ui.heads.value);
    } catch (error) {
      ui.message.textContent = error.message;
      ui.message.classList.add("ex-error");
      return;
    }
    state.layer = Math.min(state.layer, state.heads.length - 1);
    const firstWithHeads = state.heads.findIndex((h) => h > 0);
    if (state.heads[state.layer] === 0) state.layer = firstWithHeads;
    state.head = Math.min(state.head, Math.max(state.heads[state.layer] - 1, 0));
    reset();
  }
  function syncControls() {
    const text = state.heads.join(",");
    ui.heads.value = text;
    ui.preset.value = D.presets.some((p) => p.join(",") === text) ? text : "custom";
    ui.positional.value = state.positional;
    ui.ln.checked = state.ln;
    ui.biases.checked = state.biases;
    ui.head.replaceChildren(...state.heads.map((n, l) => el("optgroup", { label: `layer ${l}` },
      ...Array.from({ length: n }, (_, h) => el("option", { value: `${l},${h}` }, `L${l}H${h}`)))));
    ui.head.value = `${state.layer},${state.head}`;
  }

  // ---- rendering ----------------------------------------------------------------------------
  const parts = {};
  function reset() { state.kind = "all"; state.page = 0; state.order = "all"; state.logitPage = 0; state.selected = null; return render(); }

  function render() {
    syncControls();
    ui.message.classList.remove("ex-error");
    const a = { ...state };
    if (state.layer < 0) { // no layer has a head
      ui.message.textContent = "This architecture has no heads: its only term is the direct path.";
      return finish(renderCounts(a));
    }
    if (!listed(a)) {
      ui.message.textContent = `Counted in closed form in the page: terms and the graph are listed for 1 to ${D.bound.layers} layers of 1 to ${D.bound.heads} heads.`;
      return finish(renderCounts(a));
    }
    ui.message.textContent = "";
    const arch = ARCHS[archKey(a)], table = TABLES[tableKey(a, a.layer)];
    if (arch && table) return finish(renderListed(a, arch, table)); // synchronous: typeset with the page
    const pending = Promise.all([load(ARCHS, "a-" + archKey(a), archKey(a)), load(TABLES, "s-" + tableKey(a, a.layer), tableKey(a, a.layer))]);
    return finish(pending.then(() => (sameState(a) ? renderListed(a, ARCHS[archKey(a)], TABLES[tableKey(a, a.layer)]) : null),
      (error) => { ui.message.textContent = error.message; ui.message.classList.add("ex-error"); }));
  }
  function sameState(a) { return archKey(a) === archKey(state) && a.layer === state.layer && a.head === state.head; }
  function finish(result) {
    const done = Promise.resolve(result).then(() => typeset(root));
    api.ready = done;
    return done;
  }

  function renderCounts(a) {
    const head = a.layer >= 0 ? `L${a.layer}H${a.head}` : null;
    const kinds = head ? kindCounts(a, a.layer) : null;
    const orders = logitCounts(a);
    clear(parts.arch);
    parts.arch.append(el("code", {}, `heads per layer ${a.heads.join(", ")}`));
    kindTable(head, kinds, null, null);
    clear(parts.terms); parts.pager.replaceChildren(); parts.graph.replaceChildren();
    orderTable(orders, null);
    clear(parts.logits); parts.logitPager.replaceChildren();
    commands(a, head);
  }

  function headTerms(table, a) { // head 0's terms with the chosen head's name
    const name = `L${a.layer}H${a.head}`;
    return table.terms.map((t) => [...t.slice(0, 5), t[5].split(table.head).join(name), t[6], t[7]]);
  }

  function renderListed(a, arch, table) {
    const head = `L${a.layer}H${a.head}`;
    clear(parts.arch);
    parts.arch.append(el("code", {}, arch.repr));
    kindTable(head, table.by_kind, table.max_order, table.terms.length);
    const terms = headTerms(table, a).filter((t) => state.kind === "all" || t[0] === state.kind);
    pagedList(parts.terms, parts.pager, terms, "page", (t, i) => termItem(t, i, head));
    orderTable(arch.logits.by_order, arch.logits.max_order);
    const paths = arch.logits.terms.filter((t) => state.order === "all" || t[0] === Number(state.order));
    pagedList(parts.logits, parts.logitPager, paths, "logitPage", pathItem);
    drawGraph(arch.graph, a, head);
    commands(a, head, table.max_order, arch.logits.max_order);
  }

  function kindTable(head, counts, maxOrder, listedCount) {
    parts.kinds.replaceChildren();
    if (!head) return;
    const total = KINDS.reduce((s, k) => s + BigInt(counts[k]), 0n);
    const row = (kind, label, n) => {
      const button = el("button", { type: "button", class: "ex-filter" + (state.kind === kind ? " ex-active" : ""), "data-kind": kind,
        onclick: () => { state.kind = kind; state.page = 0; state.selected = null; render(); } }, label);
      return el("tr", {}, el("td", {}, listedCount === null ? label : button), el("td", { class: "ex-num", "data-count": kind }, fmt(n)));
    };
    parts.kinds.append(el("caption", {}, `Score terms of ${head}`),
      el("tr", {}, el("th", {}, "kind"), el("th", { class: "ex-num" }, "terms")),
      ...KINDS.map((k) => row(k, `${k} (${KIND_NAMES[k]})`, counts[k])), row("all", "all", total));
    if (listedCount !== null && maxOrder !== null) {
      parts.kinds.append(el("tr", {}, el("td", { colspan: "2", class: "ex-note" },
        `Listed: the ${fmt(listedCount)} terms whose sides pass at most ${maxOrder} earlier head${maxOrder === 1 ? "" : "s"} (more than ${fmt(D.list_limit)} in all).`)));
    }
  }

  function orderTable(orders, maxOrder) {
    parts.orders.replaceChildren();
    const total = orders.reduce((s, n) => s + BigInt(n), 0n);
    const pick = (value, label) => el("button", { type: "button", class: "ex-filter" + (String(state.order) === String(value) ? " ex-active" : ""),
      "data-order": value, onclick: () => { state.order = value; state.logitPage = 0; state.selected = null; render(); } }, label);
    const interactive = maxOrder !== undefined;
    parts.orders.append(el("caption", {}, "Logit paths by order"),
      el("tr", {}, el("th", {}, "order"), el("th", { class: "ex-num" }, "paths")),
      ...orders.map((n, k) => el("tr", {}, el("td", {}, interactive ? pick(k, `${k} (${["direct", "single heads", "virtual heads"][Math.min(k, 2)]})`) : String(k)),
        el("td", { class: "ex-num", "data-order-count": k }, fmt(n)))),
      el("tr", {}, el("td", {}, interactive ? pick("all", "all") : "all"), el("td", { class: "ex-num", "data-order-count": "all" }, fmt(total))));
    if (interactive && maxOrder !== null) {
      parts.orders.append(el("tr", {}, el("td", { colspan: "2", class: "ex-note" }, `Listed: the paths of order ≤ ${maxOrder}.`)));
    }
  }

  function pagedList(list, pager, items, pageKey, item) {
    clear(list);
    const size = D.page_size, pages = Math.max(1, Math.ceil(items.length / size));
    state[pageKey] = Math.min(state[pageKey], pages - 1);
    const start = state[pageKey] * size, shown = items.slice(start, start + size);
    shown.forEach((t, i) => list.append(item(t, start + i)));
    const go = (delta) => () => { state[pageKey] += delta; render(); };
    pager.replaceChildren(
      el("button", { type: "button", class: "ex-prev", onclick: go(-1), ...(state[pageKey] === 0 ? { disabled: "" } : {}) }, "◀ previous"),
      el("span", { class: "ex-range" }, items.length ? ` ${start + 1}–${start + shown.length} of ${items.length} ` : " none "),
      el("button", { type: "button", class: "ex-next", onclick: go(1), ...(state[pageKey] >= pages - 1 ? { disabled: "" } : {}) }, "next ▶"));
  }

  function selectable(id, edges, ...children) {
    const li = el("li", { class: "ex-term" + (state.selected === id ? " ex-selected" : ""), tabindex: "0", "data-id": id }, ...children);
    const choose = () => { state.selected = state.selected === id ? null : id; state.edges = edges; highlight(); markSelected(); };
    li.addEventListener("click", choose);
    li.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(); } });
    if (state.selected === id) state.edges = edges;
    return li;
  }
  function markSelected() {
    root.querySelectorAll(".ex-term").forEach((li) => li.classList.toggle("ex-selected", li.dataset.id === state.selected));
  }
  function chainEdges(chain, reader, channel) { // term_edges: V hops, closed by the reader's channel
    const nodes = chain.split(">").concat([reader]);
    return nodes.slice(1).map((v, i) => [nodes[i], v, i === nodes.length - 2 ? channel : "V"]);
  }
  function termItem(t, i, head) {
    const [kind, qo, ko, query, key, tex, qchain, kchain] = t;
    const edges = chainEdges(qchain, head, "Q").concat(chainEdges(kchain, head, "K"));
    return selectable(`s${i}`, edges, el("span", { class: "ex-index" }, `${i + 1}.`), el("span", { class: `ex-kind ex-kind-${kind}` }, kind),
      el("span", { class: "ex-sides" }, `query ${query} · key ${key} · order (${qo}, ${ko})`), math(tex));
  }
  function pathItem(t, i) {
    const [order, path, tex, chain] = t;
    return selectable(`l${i}`, chainEdges(chain, "unembed", "out"), el("span", { class: "ex-index" }, `${i + 1}.`), el("span", { class: "ex-kind" }, `order ${order}`),
      el("span", { class: "ex-sides" }, path), math(tex));
  }

  function commands(a, head, scoreOrder, logitOrder) {
    const spec = `--heads ${a.heads.join(",")}${flags(a)}`;
    const lines = [];
    if (head) lines.push(`tensoralgebra scores ${spec} --layer ${a.layer} --head ${a.head}${scoreOrder != null ? ` --max-order ${scoreOrder}` : ""}`);
    lines.push(`tensoralgebra expand ${spec}${logitOrder != null ? ` --max-order ${logitOrder}` : ""}`);
    lines.push(`tensoralgebra count ${spec}`);
    if (listed(a)) lines.push(`tensoralgebra graph ${spec} --out graph.svg`);
    parts.commands.replaceChildren(el("code", {}, lines.join("\n")));
  }

  // ---- the graph ----------------------------------------------------------------------------
  const W = 78, H = 30, DX = 150, DY = 48, PORTS = { Q: 0.2, K: 0.5, V: 0.8, out: 0.5 };
  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function layout(graph) { // columns: sources where they enter, layer l's heads at l + 1
    const columns = new Map(), place = new Map();
    for (const [name, role, layer, , label] of graph.nodes) {
      const enters = role === "source" ? (layer < 0 ? 0 : layer + 1) : layer + 1;
      if (!columns.has(enters)) columns.set(enters, []);
      columns.get(enters).push([name, role, label]);
    }
    const rows = Math.max(...[...columns.values()].map((c) => c.length));
    for (const [c, nodes] of columns) {
      nodes.forEach(([name, role, label], r) => place.set(name, { x: 20 + c * DX, y: 34 + (r + (rows - nodes.length) / 2) * DY, role, label }));
    }
    return { place, width: 40 + Math.max(...columns.keys()) * DX + W, height: 44 + rows * DY, columns: Math.max(...columns.keys()) };
  }
  function drawGraph(graph, a, head) {
    const { place, width, height, columns } = layout(graph);
    const g = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "ex-graph-svg", role: "img",
      "aria-label": `the graph of ${a.heads.join(",")}: sources, heads and the unembedding, with Q, K, V and out edges` });
    for (let l = 0; l < a.heads.length; l++) g.append(svg("text", { x: 20 + (l + 1) * DX + W / 2, y: 16, class: "ex-layer" }, `layer ${l}`));
    g.append(svg("text", { x: 20 + W / 2, y: 16, class: "ex-layer" }, "sources"));
    parts.edgeNodes = new Map();
    for (const [u, v, c] of graph.edges) {
      const p = place.get(u), q = place.get(v);
      const x1 = p.x + W, y1 = p.y + H / 2, x2 = q.x, y2 = q.y + H * PORTS[c], mid = Math.max((x2 - x1) / 2, 30);
      const path = svg("path", { d: `M${x1},${y1} C${x1 + mid},${y1} ${x2 - mid},${y2} ${x2},${y2}`, class: `ex-edge ex-${c}` });
      path.append(svg("title", {}, `${u} → ${v} (${c})`));
      g.append(path);
      parts.edgeNodes.set(`${u}|${v}|${c}`, path);
    }
    for (const [name, p] of place) {
      const box = svg("g", { class: `ex-node ex-${p.role}${name === head ? " ex-scoring" : ""}`, "data-node": name });
      box.append(svg("rect", { x: p.x, y: p.y, width: W, height: H, rx: 5 }), svg("text", { x: p.x + W / 2, y: p.y + H / 2 + 4 }, p.label));
      g.append(box);
    }
    const legend = svg("g", { class: "ex-legend" });
    ["Q", "K", "V", "out"].forEach((c, i) => {
      const x = 20 + i * 90;
      legend.append(svg("path", { d: `M${x},${height - 8} h30`, class: `ex-edge ex-${c}` }), svg("text", { x: x + 36, y: height - 4 }, c));
    });
    g.append(legend);
    g.setAttribute("data-columns", String(columns));
    parts.graph.replaceChildren(g);
    highlight();
  }
  function highlight() {
    const g = parts.graph.querySelector("svg");
    if (!g) return;
    const on = new Set(state.selected ? state.edges.map((e) => e.join("|")) : []);
    g.classList.toggle("ex-has-selection", on.size > 0);
    const nodes = new Set();
    for (const [id, path] of parts.edgeNodes) {
      path.classList.toggle("ex-on", on.has(id));
      if (on.has(id)) { const [u, v] = id.split("|"); nodes.add(u); nodes.add(v); }
    }
    g.querySelectorAll(".ex-node").forEach((n) => n.classList.toggle("ex-on", nodes.has(n.dataset.node)));
    parts.graphNote.textContent = state.selected ? `Highlighted: the ${on.size} edges of the selected term.` : "Select a term or a path to highlight its edges.";
  }

  // ---- the page -----------------------------------------------------------------------------
  function build() {
    parts.arch = el("p", { class: "ex-arch" });
    parts.kinds = el("table", { class: "ex-counts", id: "ex-kinds" });
    parts.terms = el("ol", { class: "ex-list", id: "ex-terms" });
    parts.pager = el("div", { class: "ex-pager" });
    parts.graph = el("div", { class: "ex-graph", id: "ex-graph" });
    parts.graphNote = el("p", { class: "ex-note" });
    parts.orders = el("table", { class: "ex-counts", id: "ex-orders" });
    parts.logits = el("ol", { class: "ex-list", id: "ex-logits" });
    parts.logitPager = el("div", { class: "ex-pager" });
    parts.commands = el("pre", { class: "ex-commands" });
    root.replaceChildren(controls(), ui.message, parts.arch, parts.kinds,
      el("p", { class: "ex-title" }, "The graph"), parts.graph, parts.graphNote,
      el("p", { class: "ex-title" }, "The head's score terms"), parts.terms, parts.pager,
      parts.orders, parts.logits, parts.logitPager,
      el("p", { class: "ex-title" }, "The same numbers from the command line"), parts.commands);
  }

  const api = { ready: Promise.resolve(), kindCounts, logitCounts, state };
  window.explorer = api;
  build();
  render();
})();
