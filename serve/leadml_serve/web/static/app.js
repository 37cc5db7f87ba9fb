// The sales page: plain JavaScript, no build, no CDN. Every call sends the API key the
// visitor entered (kept in sessionStorage, this tab only). All data is put into the page
// with textContent, never as HTML.
"use strict";

(function () {
  const KEY = "leadml-api-key";
  const PAGE_SIZE = 50;
  const SVG = "http://www.w3.org/2000/svg";
  const COLUMNS = 8;
  const state = { offset: 0, total: 0, filters: {}, labels: {}, request: 0, typing: 0 };
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    return node;
  }

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, key) {
    const response = await fetch(path, { headers: { "X-API-Key": key || sessionStorage.getItem(KEY) || "" } });
    if (!response.ok) {
      let detail = response.statusText;
      try {
        detail = (await response.json()).detail || detail;
      } catch (_) { /* not JSON */ }
      if (response.status === 401 && !key) signOut("Your key was refused. Sign in again.");
      throw new ApiError(response.status, detail);
    }
    return response;
  }

  function query(extra) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries({ ...state.filters, ...extra })) {
      if (value !== "" && value != null) params.set(name, value);
    }
    return params.toString();
  }

  // ---- sign-in -------------------------------------------------------------------
  function showSignIn(message) {
    $("app").hidden = true;
    $("sign-out").hidden = true;
    $("batch-info").textContent = "";
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = message || "";
    $("api-key").focus();
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    document.querySelector("#ranked tbody").replaceChildren();
    showSignIn(message);
  }

  async function signIn(event) {
    event.preventDefault();
    const key = $("api-key").value.trim();
    try {
      await api("/v1/leads/ranked/summary", key);
    } catch (error) {
      $("sign-in-error").textContent =
        error.status === 401 ? "That key was not accepted." : `Cannot sign in: ${error.message}`;
      return;
    }
    sessionStorage.setItem(KEY, key);
    $("api-key").value = "";
    start();
  }

  // ---- header, filters and chart ----------------------------------------------------
  function when(iso) {
    return iso ? iso.replace("T", " ").slice(0, 16) + " UTC" : "";
  }

  // The words for a token come with the summary (leadml.vocabulary, server side).
  function words(kind, token) {
    return (state.labels[kind] || {})[token] || token;
  }

  function fillSelect(select, counts, kind) {
    const keep = select.value;
    const first = select.options[0];
    select.replaceChildren(first);
    for (const [name, n] of Object.entries(counts || {})) {
      select.append(el("option", { value: name, text: `${words(kind, name)} (${n.toLocaleString("en")})` }));
    }
    select.value = keep;
  }

  function drawChart(histogram) {
    const box = $("chart");
    box.replaceChildren();
    if (!histogram || !histogram.length) return;
    const bins = [];
    for (let start = 1; start <= 99; start += 5) {
      let n = 0;
      for (let s = start; s < start + 5 && s <= 99; s++) n += histogram[s - 1] || 0;
      bins.push({ from: start, to: Math.min(start + 4, 99), n });
    }
    const most = Math.max(1, ...bins.map((b) => b.n));
    const width = 900, height = 150, pad = 22, barW = (width - 2 * pad) / bins.length;
    const total = bins.reduce((sum, b) => sum + b.n, 0);
    const chart = svg("svg", {
      viewBox: `0 0 ${width} ${height + 24}`, role: "img", class: "chart",
      "aria-label": `Score distribution of ${total.toLocaleString("en")} leads, in bins of 5 points`,
    });
    bins.forEach((bin, i) => {
      const h = Math.round((bin.n / most) * (height - 10));
      const bar = svg("rect", {
        x: pad + i * barW + 1, y: height - h, width: barW - 2, height: Math.max(h, bin.n ? 1 : 0),
        class: "bar",
      });
      const title = svg("title");
      title.textContent = `Scores ${bin.from}-${bin.to}: ${bin.n.toLocaleString("en")} leads`;
      bar.append(title);
      chart.append(bar);
    });
    chart.append(svg("line", { x1: pad, x2: width - pad, y1: height, y2: height, class: "axis" }));
    for (const [score, label] of [[1, "1"], [50, "50"], [99, "99"]]) {
      const text = svg("text", { x: pad + ((score - 1) / 99) * (width - 2 * pad), y: height + 18, class: "tick" });
      text.textContent = label;
      chart.append(text);
    }
    box.append(chart);
  }

  async function loadSummary() {
    const summary = await (await api("/v1/leads/ranked/summary")).json();
    const batch = summary.batch;
    if (!batch) {
      $("batch-info").textContent = "Nothing scored yet: run `leadml score` to fill the list.";
      return;
    }
    $("batch-info").textContent =
      `Model version ${batch.model_version} · last scored ${when(batch.scored_at)} ` +
      `(as of ${when(batch.as_of)}) · ${batch.n_leads.toLocaleString("en")} open leads`;
    state.labels = summary.labels || {};
    fillSelect($("f-source"), summary.sources, "lead_source");
    fillSelect($("f-stage"), summary.stages, "stage");
    drawChart(summary.score_histogram);
    const counts = $("grade-counts");
    counts.replaceChildren();
    for (const [grade, n] of Object.entries(summary.grade_counts || {})) {
      counts.append(el("dt", {}, badge(grade)), el("dd", { text: n.toLocaleString("en") }));
    }
  }

  // ---- the table -------------------------------------------------------------------
  function badge(grade) {
    return el("span", { className: `badge grade-${grade}`, title: `Grade ${grade}`, text: grade });
  }

  function row(lead, index) {
    const detailId = `detail-${index}`;
    const toggle = el("button", {
      type: "button", className: "expand", "aria-expanded": "false", "aria-controls": detailId,
      "aria-label": `Details for ${lead.company || lead.lead_id}`,
    });
    toggle.append(el("span", { "aria-hidden": "true", className: "chevron", text: "▸" }));
    toggle.addEventListener("click", () => toggleDetail(toggle, lead, detailId));
    const score = el("td", { className: "score" }, el("span", { className: "num", text: String(lead.score) }), " ", badge(lead.grade));
    const tr = el(
      "tr", { "data-lead-id": lead.lead_id, "data-grade": lead.grade, "data-trend": lead.trend, className: "lead" },
      el("td", {}, toggle),
      el("td", { className: "num", text: String(lead.rank) }),
      el("td", { className: "company", text: lead.company || "—" }),
      el("td", { className: "secondary-col", text: words("lead_source", lead.lead_source) }),
      el("td", { className: "secondary-col", text: words("stage", lead.stage) }),
      score,
      trendCell(lead),
      el("td", { className: "reason secondary-col", text: lead.top_reason || "" }),
    );
    return tr;
  }

  function trendText(lead) {
    const trend = { mark: words("trend_mark", lead.trend), words: words("trend", lead.trend) };
    const was = lead.previous_score == null ? "" : `, was ${lead.previous_score}`;
    return { trend, description: `${trend.words}${was}` };
  }

  function trendCell(lead) {
    const { trend, description } = trendText(lead);
    const cell = el("td", { className: `trend trend-${lead.trend}`, title: description });
    cell.append(el("span", { className: "mark", "aria-hidden": "true", text: trend.mark }));
    if (lead.previous_score != null) cell.append(" ", el("span", { className: "was", "aria-hidden": "true", text: String(lead.previous_score) }));
    cell.append(el("span", { className: "visually-hidden", text: description }));
    return cell;
  }

  // A reason's strength as arrows; the exact change, in probability points, on hover.
  function reasonList(title, reasons, against) {
    const list = el("ul", { className: "reasons" });
    for (const r of reasons) {
      const points = (Math.abs(r.probability_delta) * 100).toFixed(1);
      const change = `${against ? "−" : "+"}${points} probability points`;
      list.append(el("li", {},
        el("span", { className: against ? "arrows minus" : "arrows plus", title: change, "aria-hidden": "true", text: r.arrows }),
        el("span", { className: "visually-hidden", text: `${change}: ` }),
        " ", r.text));
    }
    if (!reasons.length) list.append(el("li", { className: "muted", text: "None" }));
    return el("div", {}, el("h3", { text: title }), list);
  }

  function reasonBlocks(lead, reasons) {
    const up = reasonList(["A", "B"].includes(lead.grade) ? "Why it ranks high" : "What works for it", reasons.positive || [], false);
    const down = reasonList("What holds it back", reasons.negative || [], true);
    // A and B leads lead with their strengths, C and D with what keeps them down.
    return ["A", "B"].includes(lead.grade) ? [up, down] : [down, up];
  }

  function history(points) {
    const head = ["Data as of", "Scored", "Score", "Grade", "Model"];
    const table = el("table", { className: "history" },
      el("caption", { text: "Score history" }),
      el("thead", {}, el("tr", {}, ...head.map((text) => el("th", { scope: "col", text })))));
    const body = el("tbody");
    for (const p of points.slice().reverse()) {
      body.append(el("tr", {},
        el("td", { className: "as-of", text: when(p.as_of) }),
        el("td", { className: "muted", text: when(p.scored_at) }),
        el("td", { className: "num", text: String(p.score) }),
        el("td", {}, badge(p.grade)),
        el("td", { text: p.model_version })));
    }
    table.append(body);
    return table;
  }

  async function toggleDetail(button, lead, detailId) {
    const open = button.getAttribute("aria-expanded") === "true";
    const existing = document.getElementById(detailId);
    if (open) {
      button.setAttribute("aria-expanded", "false");
      if (existing) existing.hidden = true;
      return;
    }
    button.setAttribute("aria-expanded", "true");
    if (existing) {
      existing.hidden = false;
      return;
    }
    const cell = el("td", { colspan: String(COLUMNS) }, el("p", { className: "muted", text: "Loading…" }));
    const detail = el("tr", { id: detailId, className: "detail" }, cell);
    button.closest("tr").after(detail);
    try {
      const d = await (await api(`/v1/leads/${encodeURIComponent(lead.lead_id)}`)).json();
      const { trend, description } = trendText(d);
      cell.replaceChildren(
        el("p", { className: "detail-head" }, el("strong", { text: d.company || d.lead_id }),
          ` · lead ${d.lead_id} · ${words("lead_source", d.lead_source)} · ${words("stage", d.stage)}` +
          ` · probability ${(d.probability * 100).toFixed(1)}% · trend ${trend.mark === "new" ? "" : trend.mark + " "}${description}`),
        el("div", { className: "detail-grid" }, ...reasonBlocks(d, d.reasons), history(d.history || [])),
        el("p", { className: "legend muted", text: "▲▲▲ strong · ▲▲ clear · ▲ slight (▼ against). Hover over the arrows for the change in probability points." }),
      );
    } catch (error) {
      cell.replaceChildren(el("p", { className: "error", text: `Could not load the details: ${error.message}` }));
    }
  }

  async function loadPage(offset) {
    state.offset = Math.max(0, offset);
    const ticket = ++state.request; // only the latest request may fill the table
    $("status").textContent = "Loading…";
    let body;
    try {
      body = await (await api(`/v1/leads/ranked?${query({ limit: PAGE_SIZE, offset: state.offset })}`)).json();
    } catch (error) {
      if (ticket === state.request) $("status").textContent = `Could not load the list: ${error.message}`;
      return;
    }
    if (ticket !== state.request) return;
    state.total = body.total;
    const rows = body.results.map((lead, i) => row(lead, state.offset + i));
    document.querySelector("#ranked tbody").replaceChildren(...rows);
    const last = state.offset + body.results.length;
    $("status").textContent = body.total
      ? `${body.total.toLocaleString("en")} leads match.`
      : "No leads match these filters.";
    $("page-info").textContent = body.total ? `${state.offset + 1}–${last} of ${body.total.toLocaleString("en")}` : "";
    $("prev").disabled = state.offset === 0;
    $("next").disabled = last >= body.total;
  }

  function clearFilters() {
    $("filters").reset();
    for (const id of ["f-grade", "f-source", "f-stage", "f-q"]) $(id).value = "";
    readFilters();
  }

  function readFilters() {
    clearTimeout(state.typing); // a search still being typed must not reload the list later
    state.filters = {
      grade: $("f-grade").value,
      source: $("f-source").value,
      stage: $("f-stage").value,
      q: $("f-q").value.trim(),
    };
    loadPage(0);
  }

  async function download() {
    const button = $("download");
    button.disabled = true;
    $("status").textContent = "Preparing the CSV…";
    try {
      const response = await api(`/v1/leads/ranked?${query({ format: "csv" })}`);
      const found = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
      const url = URL.createObjectURL(await response.blob());
      const link = el("a", { href: url, download: found ? found[1] : "ranked-leads.csv" });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      $("status").textContent = `Downloaded ${state.total.toLocaleString("en")} leads as CSV.`;
    } catch (error) {
      $("status").textContent = `Could not download the CSV: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }

  async function start() {
    $("sign-in").hidden = true;
    $("app").hidden = false;
    $("sign-out").hidden = false;
    try {
      await loadSummary();
    } catch (error) {
      if (error.status !== 401) $("status").textContent = `Could not load the batch: ${error.message}`;
      return;
    }
    readFilters();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", () => signOut(""));
    $("filters").addEventListener("submit", (event) => { event.preventDefault(); readFilters(); });
    for (const id of ["f-grade", "f-source", "f-stage"]) $(id).addEventListener("change", readFilters);
    $("f-q").addEventListener("input", () => { clearTimeout(state.typing); state.typing = setTimeout(readFilters, 350); });
    $("clear-filters").addEventListener("click", clearFilters);
    $("download").addEventListener("click", download);
    $("prev").addEventListener("click", () => loadPage(state.offset - PAGE_SIZE));
    $("next").addEventListener("click", () => loadPage(state.offset + PAGE_SIZE));
    if (sessionStorage.getItem(KEY)) start();
    else showSignIn("");
  });
})();
