// The SKM dashboard: reads the API with a reader key kept in this browser. Every number
// shown is one the API gave (formatted for the language, never recomputed here).
import { TEXTS } from "/dashboard/texts.js";

const KEY = "skm.dashboard.key";
const KEY_NAME = "skm.dashboard.keyName";
const LANG = "skm.dashboard.lang";
const UNIT = "skm.dashboard.unit";
const $ = (id) => document.getElementById(id);

const state = {
  lang: localStorage.getItem(LANG) || "id",
  unit: null,
  cache: new Map(), // url → {etag, body}: refresh asks with If-None-Match
  chart: null,
  generation: 0, // a newer load makes an older one's answers stale
};

const t = (key) => TEXTS[state.lang][key] ?? TEXTS.id[key] ?? key;
const locale = () => (state.lang === "en" ? "en-GB" : "id-ID");
const fixed = (value, digits) =>
  value === null || value === undefined
    ? "—"
    : new Intl.NumberFormat(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
const count = (value) => new Intl.NumberFormat(locale()).format(value);
const when = (iso) =>
  iso ? new Intl.DateTimeFormat(locale(), { dateStyle: "long", timeStyle: "short" }).format(new Date(iso)) : "—";
const gradeText = (grade) =>
  grade ? `${grade.mutu} (${state.lang === "en" ? grade.kinerja_en : grade.kinerja})` : "—";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function translate() {
  document.documentElement.lang = state.lang;
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
}

// --- the API ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function api(path, { method = "GET", body, key = localStorage.getItem(KEY) } = {}) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  const cached = method === "GET" ? state.cache.get(path) : undefined;
  if (cached) headers["If-None-Match"] = cached.etag;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
  });
  if (answer.status === 304 && cached) return { body: cached.body, fresh: false };
  const text = await answer.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!answer.ok) throw new ApiError(answer.status, parsed);
  const etag = answer.headers.get("ETag");
  if (etag && method === "GET") state.cache.set(path, { etag, body: parsed });
  return { body: parsed, fresh: true };
}

// --- signing in -----------------------------------------------------------------------------

function showSignin(message = "") {
  $("signin").hidden = false;
  $("board").hidden = true;
  $("forget").hidden = true;
  $("key-name").textContent = "";
  $("signin-error").textContent = message;
}

async function useKey(token, name) {
  localStorage.setItem(KEY, token);
  if (name) localStorage.setItem(KEY_NAME, name);
  await start();
}

$("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  await useKey($("key-input").value.trim(), null);
  $("key-input").value = "";
});

$("pair-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = $("pair-code").value.trim().toUpperCase();
  try {
    const { body } = await api("/v1/pairing-codes/exchange", { method: "POST", body: { code }, key: null });
    $("pair-code").value = "";
    await useKey(body.token, body.name);
  } catch (error) {
    $("signin-error").textContent = t("pair_failed");
  }
});

$("forget").addEventListener("click", () => {
  localStorage.removeItem(KEY);
  localStorage.removeItem(KEY_NAME);
  localStorage.removeItem(UNIT);
  state.unit = null;
  state.cache.clear();
  showSignin();
});

$("lang").addEventListener("click", () => {
  state.lang = state.lang === "id" ? "en" : "id";
  localStorage.setItem(LANG, state.lang);
  translate();
  fillParts();
  if (state.unit) load(false);
});

// --- the period picker ----------------------------------------------------------------------

const PARTS = { quarter: ["I", "II", "III", "IV"], semester: ["I", "II"], month: null, year: [] };

function fillParts() {
  const kind = $("period-kind").value;
  const select = $("period-part");
  const chosen = select.value;
  select.replaceChildren();
  const names =
    kind === "month"
      ? Array.from({ length: 12 }, (_, i) => new Intl.DateTimeFormat(locale(), { month: "long" }).format(new Date(2000, i, 1)))
      : PARTS[kind];
  names.forEach((name, i) => select.append(el("option", { value: String(i + 1), text: name })));
  select.disabled = kind === "year";
  if (chosen && Number(chosen) <= names.length) select.value = chosen;
}

function periodLabel() {
  const kind = $("period-kind").value;
  const year = $("period-year").value;
  const part = $("period-part").value;
  if (kind === "year") return year;
  if (kind === "quarter") return `${year}-Q${part}`;
  if (kind === "semester") return `${year}-S${part}`;
  return `${year}-${String(part).padStart(2, "0")}`;
}

function initialPeriod() {
  const now = new Date();
  $("period-year").value = String(now.getFullYear());
  $("period-kind").value = "quarter";
  fillParts();
  $("period-part").value = String(Math.floor(now.getMonth() / 3) + 1);
}

for (const id of ["period-kind", "period-year", "period-part", "include-flagged", "breakdown-by", "granularity"]) {
  $(id).addEventListener("change", () => {
    if (id === "period-kind") fillParts();
    if (state.unit) load(false);
  });
}
$("refresh").addEventListener("click", () => load(true));
$("controls").addEventListener("submit", (event) => event.preventDefault());

// --- the unit tree ------------------------------------------------------------------------

function treeList(nodes) {
  const list = el("ul");
  for (const node of nodes) {
    const button = el("button", {
      type: "button", "data-unit": node.code, "aria-current": node.code === state.unit ? "true" : null,
      onclick: () => select(node.code),
    }, node.name);
    const item = el("li", {}, button);
    if (node.children.length) item.append(treeList(node.children));
    list.append(item);
  }
  return list;
}

async function loadTree() {
  const { body } = await api("/v1/units?limit=500");
  const roots = body.items.filter((unit) => unit.parent === null);
  const trees = [];
  for (const root of roots) trees.push((await api(`/v1/units/${encodeURIComponent(root.code)}/tree`)).body);
  $("tree-list").replaceChildren(treeList(trees));
  return trees;
}

function select(code) {
  state.unit = code;
  localStorage.setItem(UNIT, code);
  for (const button of document.querySelectorAll("#tree-list button")) {
    if (button.dataset.unit === code) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
  load(false);
}

// --- the figures -----------------------------------------------------------------------------

function query(extra = {}) {
  const params = new URLSearchParams({ period: periodLabel(), ...extra });
  if ($("include-flagged").checked) params.set("include_flagged", "true");
  return params.toString();
}

function trendQuery() {
  // The trend runs over the year of the chosen period.
  const params = new URLSearchParams({ period: periodLabel().slice(0, 4), granularity: $("granularity").value });
  if ($("include-flagged").checked) params.set("include_flagged", "true");
  return params.toString();
}

function setNumber(id, value, digits) {
  const node = $(id);
  node.textContent = fixed(value, digits);
  node.dataset.value = value === null || value === undefined ? "" : String(value);
}

function showHeadline(report) {
  $("unit-name").textContent = report.unit.name;
  $("period-label").textContent = report.period.label ?? `${report.period.from} – ${report.period.to}`;
  setNumber("ikm", report.ikm, 2);
  $("grade").textContent = report.grade ? report.grade.mutu : "—";
  $("grade").dataset.value = report.grade ? report.grade.mutu : "";
  $("kinerja").textContent = report.grade ? (state.lang === "en" ? report.grade.kinerja_en : report.grade.kinerja) : "";
  $("responses").textContent = count(report.pooled.responses);
  $("responses").dataset.value = String(report.pooled.responses);
  const ci = report.pooled.confidence_interval;
  $("interval").textContent = ci ? `${fixed(ci.ikm_low, 2)} – ${fixed(ci.ikm_high, 2)}` : t("no_interval");
  const sample = report.sample;
  $("sample").textContent =
    sample.adequate === null
      ? t("no_population")
      : `${sample.adequate ? t("adequate") : t("not_adequate")} (${count(report.pooled.responses)} / ${t("minimum")} ${count(sample.minimum)})`;
  $("updated").textContent = when(report.data_updated_at);
  const flagged = report.method.flagged_responses;
  $("flagged").textContent = flagged
    ? `${count(flagged)} ${report.method.flagged_counted ? t("flagged_counted") : t("flagged_left_out")}`
    : "";
  const pub = report.publication;
  $("publication").textContent = pub
    ? `${t("published")} ${when(pub.published_at)} (${t("revision")} ${pub.revision})${pub.differs ? " — " + t("differs") : ""}`
    : "";
}

function showElements(report) {
  const weakest = new Set(report.pooled.weakest);
  $("elements").tBodies[0].replaceChildren(
    ...report.pooled.elements.map((element) =>
      el("tr", { "data-element": element.key },
        el("th", { scope: "row" }, state.lang === "en" ? TEXTS.en[`el_${element.key}`] ?? element.unsur : element.unsur, weakest.has(element.key) ? el("span", { class: "tag", text: t("weakest") }) : ""),
        el("td", { "data-value": element.nrr, text: fixed(element.nrr, 3) }),
        el("td", { text: fixed(element.ikm, 2) }),
        el("td", { text: gradeText(element.grade) }),
        el("td", { text: count(element.answers) }))));
}

function showTrend(series) {
  const points = series.points;
  $("trend").tBodies[0].replaceChildren(
    ...points.map((point) =>
      el("tr", {},
        el("th", { scope: "row", text: point.period.label }),
        el("td", { text: fixed(point.value.ikm, 2) }),
        el("td", { text: gradeText(point.value.grade) }),
        el("td", { text: count(point.value.responses) }))));
  const box = $("trend-chart");
  if (state.chart) state.chart.destroy();
  state.chart = null;
  if (!window.uPlot || !points.length) return;
  const xs = points.map((_, i) => i);
  const ys = points.map((point) => point.value.ikm);
  const labels = points.map((point) => point.period.label);
  state.chart = new window.uPlot({
    width: Math.max(280, Math.min(720, box.clientWidth || 640)),
    height: 220,
    scales: { x: { time: false }, y: { range: [25, 100] } },
    axes: [{ values: (_, ticks) => ticks.map((i) => labels[i] ?? "") , space: 40 }, { label: "IKM" }],
    series: [{}, { label: "IKM", stroke: "#0b5cad", width: 2, spanGaps: false, points: { size: 6 } }],
    legend: { show: false },
  }, [xs, ys], box);
}

function showRanking(ranking) {
  $("ranking").tBodies[0].replaceChildren(
    ...ranking.items.map((item) =>
      el("tr", { "data-unit": item.unit.code },
        el("td", { text: item.rank ?? "—" }),
        el("th", { scope: "row", text: item.unit.name }),
        el("td", { "data-value": item.value.ikm ?? "", text: fixed(item.value.ikm, 2) }),
        el("td", { text: gradeText(item.value.grade) }),
        el("td", { text: count(item.value.responses) }))));
}

function showBreakdown(breakdown) {
  $("breakdown").tBodies[0].replaceChildren(
    ...breakdown.groups.map((group) =>
      el("tr", {},
        el("th", { scope: "row", text: group.label ?? group.key ?? t("not_given") }),
        el("td", { text: fixed(group.value.ikm, 2) }),
        el("td", { text: gradeText(group.value.grade) }),
        el("td", { text: count(group.value.responses) }))));
}

async function load(refreshing) {
  const code = encodeURIComponent(state.unit);
  const mine = ++state.generation;
  document.documentElement.dataset.ready = "false";
  $("status").textContent = t("loading");
  try {
    const [index, series, ranking, breakdown] = await Promise.all([
      api(`/v1/indices/${code}?${query()}`),
      api(`/v1/indices/${code}/series?${trendQuery()}`),
      api(`/v1/indices/${code}/ranking?${query()}`),
      api(`/v1/indices/${code}/breakdown?${query({ by: $("breakdown-by").value })}`),
    ]);
    if (mine !== state.generation) return;
    showHeadline(index.body);
    showElements(index.body);
    showTrend(series.body);
    showRanking(ranking.body);
    showBreakdown(breakdown.body);
    const changed = [index, series, ranking, breakdown].some((answer) => answer.fresh);
    $("status").textContent = refreshing && !changed ? t("unchanged") : "";
    performance.mark("skm-dashboard-ready");
    document.documentElement.dataset.ready = "true";
  } catch (error) {
    if (mine !== state.generation) return;
    if (error.status === 401) return showSignin(t("key_refused"));
    $("status").textContent = error.problem?.errors?.[0]?.detail
      ? `${t("error")}: ${error.problem.errors[0].detail}` : `${t("error")}: ${error.message}`;
  }
}

// --- downloads -------------------------------------------------------------------------------

function downloadPath(kind) {
  const code = encodeURIComponent(state.unit);
  const period = encodeURIComponent(periodLabel());
  const lang = state.lang;
  return {
    csv: [`/v1/responses/export.csv?unit=${code}&period=${period}`, "skm-responses.csv"],
    workbook: [`/v1/units/${code}/documents/workbook.xlsx?period=${period}&lang=${lang}`, `skm-${state.unit}-${periodLabel()}.xlsx`],
    report: [`/v1/units/${code}/documents/report.pdf?period=${period}&lang=${lang}`, `laporan-skm-${state.unit}-${periodLabel()}.pdf`],
    poster: [`/v1/units/${code}/documents/poster.pdf?period=${period}&lang=${lang}`, `poster-skm-${state.unit}-${periodLabel()}.pdf`],
    poster_png: [`/v1/units/${code}/documents/poster.png?period=${period}&lang=${lang}`, `poster-skm-${state.unit}-${periodLabel()}.png`],
  }[kind];
}

for (const button of document.querySelectorAll("[data-download]")) {
  button.addEventListener("click", async () => {
    const [path, name] = downloadPath(button.dataset.download);
    $("download-status").textContent = t("downloading");
    const answer = await fetch(path, { headers: { Authorization: `Bearer ${localStorage.getItem(KEY)}` } });
    if (!answer.ok) {
      const problem = await answer.json().catch(() => null);
      $("download-status").textContent = `${t("error")}: ${problem?.detail ?? answer.status}`;
      return;
    }
    const link = el("a", { href: URL.createObjectURL(await answer.blob()), download: name });
    document.body.append(link);
    link.click();
    link.remove();
    $("download-status").textContent = "";
  });
}

// --- start -------------------------------------------------------------------------------------

async function start() {
  if (!localStorage.getItem(KEY)) return showSignin();
  // The unit shown last time is asked for at once, while the tree loads beside it.
  const last = localStorage.getItem(UNIT);
  if (last) select(last);
  try {
    const trees = await loadTree();
    $("signin").hidden = true;
    $("board").hidden = false;
    $("forget").hidden = false;
    $("key-name").textContent = localStorage.getItem(KEY_NAME) || "";
    if (!trees.length) return showSignin(t("no_units"));
    const known = state.unit && document.querySelector(`[data-unit="${CSS.escape(state.unit)}"]`);
    if (!known) select(trees[0].code);
  } catch (error) {
    localStorage.removeItem(KEY);
    showSignin(error.status === 401 || error.status === 403 ? t("key_refused") : `${t("error")}: ${error.message}`);
  }
}

translate();
initialPeriod();
start();
