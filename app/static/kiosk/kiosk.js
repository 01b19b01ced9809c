// The kiosk: pairing, the form one element per screen, a durable queue synced in batches,
// an idle reset, and a staff view (five taps on the title). Plain ES modules, no build.
import { WORDS, loc } from "/static/common/i18n.js";
import {
  h, elementChoices, profileChoices, extraChoices, choices, responseItem, emptyAnswers,
  detailsComplete,
} from "/static/common/survey.js";
import * as queue from "/kiosk/queue.js";

const params = new URLSearchParams(location.search);
const IDLE_SECONDS = Number(params.get("idle")) || 60; // mid-survey: back to the start
const THANKS_SECONDS = Number(params.get("thanks")) || 6;
const BATCH = 100; // at most this many per batch (and never above the service's limit)
const MAX_BACKOFF = 60;

const screen = document.getElementById("screen");
const title = document.getElementById("title");
const langButton = document.getElementById("lang");
const staffView = document.getElementById("staff");

let lang = "id";
let key = null; // {token, name, scope, services}
let form = null;
let state = emptyAnswers();
let step = 0; // 0..8 the elements, 9 details, 10 thanks
let idleTimer = null;
let thanksTimer = null;
const sync = { running: false, again: false, timer: null, failures: 0, last: null, revoked: false };

const words = () => WORDS[lang];
const questions = () => form.survey_version.definition.questions;

function show(...nodes) {
  screen.replaceChildren(...nodes);
  const heading = screen.querySelector("h2");
  if (heading) heading.setAttribute("tabindex", "-1");
}

function renderHeader() {
  document.documentElement.lang = lang;
  title.textContent = form ? `${words().title} — ${form.unit.name}` : words().title;
  langButton.textContent = words().other;
  langButton.setAttribute("lang", words().otherLang);
}

// --- pairing ---------------------------------------------------------------------------

function pairingScreen(message) {
  const input = h("input", {
    id: "pair-code", class: "code", autocomplete: "off", autocapitalize: "characters",
    spellcheck: "false", maxlength: "12", inputmode: "text",
  });
  const submit = async (event) => {
    event.preventDefault();
    const button = event.target.querySelector("button");
    button.disabled = true;
    try {
      await pair(input.value);
    } catch (error) {
      pairingScreen(error.message);
    }
  };
  show(
    h("h2", { text: words().pairTitle }),
    h("p", { text: words().pairHelp }),
    h("form", { onsubmit: submit },
      h("label", { for: "pair-code", text: words().pairCode }),
      input,
      message ? h("p", { class: "error", role: "alert", text: message }) : null,
      h("div", { class: "nav" }, h("button", { class: "primary", type: "submit", text: words().pairButton })),
    ),
  );
  input.focus();
}

async function pair(code) {
  let answer;
  try {
    answer = await fetch("/v1/pairing-codes/exchange", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code }),
    });
  } catch {
    throw new Error(words().offline);
  }
  if (answer.status !== 201) throw new Error(answer.status >= 500 ? words().offline : words().pairBad);
  const created = await answer.json();
  if (created.role !== "collector") throw new Error(words().pairRole);
  key = { token: created.token, name: created.name, scope: created.scope, services: created.services };
  await queue.setMeta("key", key);
  sync.revoked = false;
  await loadForm(true);
  reset();
}

// --- the form --------------------------------------------------------------------------

/** The form from the service (ETag: a 304 keeps the cached one); offline, the cached one. */
async function loadForm(required) {
  const cached = await queue.getMeta("form");
  if (cached && !form) form = cached.body;
  const headers = { Authorization: `Bearer ${key.token}` };
  if (cached && cached.scope === key.scope) headers["If-None-Match"] = cached.etag;
  try {
    const answer = await fetch(`/v1/units/${encodeURIComponent(key.scope)}/form`, { headers });
    if (answer.status === 200) {
      const body = await answer.json();
      await queue.setMeta("form", { scope: key.scope, etag: answer.headers.get("ETag"), body });
      const changed = !form || JSON.stringify(form) !== JSON.stringify(body);
      form = body;
      return changed;
    }
    if (answer.status === 401) sync.revoked = true;
  } catch (error) {
    if (required && !form) throw new Error(words().offline);
  }
  if (required && !form) throw new Error(words().offline);
  return false;
}

function services() {
  const offered = form.services;
  return key.services ? offered.filter((s) => key.services.includes(s.code)) : offered;
}

function reset() {
  clearTimeout(thanksTimer);
  lang = "id";
  state = emptyAnswers();
  const offered = services();
  if (offered.length === 1) state.service = offered[0].code;
  step = 0;
  render();
}

function render() {
  renderHeader();
  if (!key) return pairingScreen();
  if (step < questions().length) return elementScreen(step);
  if (step === questions().length) return detailsScreen();
  return thanksScreen();
}

function elementScreen(index) {
  const question = questions()[index];
  const nav = h("div", { class: "nav" },
    index > 0 ? h("button", { type: "button", class: "secondary", text: words().back, onclick: () => go(index - 1) }) : h("span"),
  );
  show(
    h("p", { class: "progress", text: `${words().question} ${index + 1} ${words().of} ${questions().length}` }),
    h("h2", { id: "question", text: loc(question.text, lang) }),
    elementChoices(question, lang, state.answers[question.element], (score) => {
      state.answers[question.element] = score;
      go(index + 1);
    }),
    nav,
  );
  if (index === 0 && !performance.getEntriesByName("skm-first-element").length)
    performance.mark("skm-first-element");
}

function go(next) {
  step = next;
  render();
  screen.querySelector("h2")?.focus({ preventScroll: true });
}

function detailsScreen() {
  const definition = form.survey_version.definition;
  const refresh = () => detailsScreen();
  const offered = services();
  const parts = [
    h("h2", { text: words().details }),
    h("p", { class: "note", text: words().detailsHelp }),
  ];
  if (offered.length > 1) {
    parts.push(h("fieldset", {},
      h("legend", { text: words().service }),
      choices(words().service, offered.map((s) => [s.code, s.name]), state.service, (v) => { state.service = v; refresh(); }, "choices small services"),
    ));
  }
  for (const question of definition.extra_questions) {
    parts.push(h("fieldset", {}, h("legend", { text: loc(question.text, lang) }),
      extraChoices(question, lang, state.extra[question.key], (v) => { state.extra[question.key] = v; refresh(); })));
  }
  for (const field of form.profile_fields) {
    parts.push(h("fieldset", {}, h("legend", { text: loc(field.label, lang) }),
      profileChoices(field, lang, state.profile[field.field], (v) => {
        state.profile[field.field] = state.profile[field.field] === v ? null : v;
        refresh();
      })));
  }
  const prompt = loc(definition.suggestion_prompt, lang) || words().suggestion;
  const text = h("textarea", { id: "suggestion", rows: "3", maxlength: String(form.limits.max_suggestion_length) });
  text.value = state.suggestion;
  text.addEventListener("input", () => { state.suggestion = text.value; });
  parts.push(h("label", { for: "suggestion", text: prompt }), text);
  parts.push(h("div", { class: "nav" },
    h("button", { type: "button", class: "secondary", text: words().back, onclick: () => go(questions().length - 1) }),
    h("button", { type: "button", class: "primary", id: "submit", text: words().submit, disabled: !detailsComplete(form, state), onclick: finish }),
  ));
  const scroll = window.scrollY;
  show(...parts);
  window.scrollTo(0, scroll);
}

async function finish() {
  const item = responseItem(form, state, "kiosk");
  await queue.enqueue(item); // durable before anything is sent
  step = questions().length + 1;
  render();
  thanksTimer = setTimeout(reset, THANKS_SECONDS * 1000);
  syncSoon(0);
}

function thanksScreen() {
  show(h("div", { class: "thanks" },
    h("h2", { text: words().thanks }),
    h("p", { text: words().thanksHelp }),
    h("button", { type: "button", class: "primary", text: words().again, onclick: reset }),
  ));
}

// --- idle reset ------------------------------------------------------------------------

function touched() {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    const started = step > 0 || Object.keys(state.answers).length > 0 || lang !== "id";
    if (key && form && started && step <= questions().length) reset();
  }, IDLE_SECONDS * 1000);
}
for (const name of ["pointerdown", "keydown", "input"]) addEventListener(name, touched, true);

// --- sync ------------------------------------------------------------------------------

function syncSoon(seconds) {
  clearTimeout(sync.timer);
  sync.timer = setTimeout(syncNow, seconds * 1000);
}

function retryAfter(answer) {
  const value = answer.headers.get("Retry-After");
  if (!value) return null;
  const seconds = /^\d+$/.test(value) ? Number(value) : (Date.parse(value) - Date.now()) / 1000;
  return Number.isFinite(seconds) ? Math.max(1, seconds) : null;
}

function backoff() {
  sync.failures += 1;
  const ceiling = Math.min(MAX_BACKOFF, 2 ** sync.failures);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

async function syncNow() {
  if (!key || sync.revoked) return;
  if (sync.running) {
    sync.again = true; // a response queued while a sync runs: another round when it ends
    return;
  }
  sync.running = true;
  sync.again = false;
  clearTimeout(sync.timer);
  try {
    for (;;) {
      const limit = Math.min(BATCH, form?.limits.max_batch_items || BATCH);
      const records = await queue.pending(limit);
      if (!records.length) break;
      let answer;
      try {
        answer = await fetch("/v1/responses/batch", {
          method: "POST",
          headers: { Authorization: `Bearer ${key.token}`, "Content-Type": "application/json" },
          body: JSON.stringify({ items: records.map((r) => r.item) }),
        });
      } catch {
        sync.last = { at: new Date(), ok: false };
        syncSoon(backoff());
        break;
      }
      if (answer.status === 200) {
        const outcome = await answer.json();
        await queue.settle(records, outcome.items);
        sync.failures = 0;
        sync.last = { at: new Date(), ok: true };
        continue;
      }
      sync.last = { at: new Date(), ok: false, status: answer.status };
      if (answer.status === 401) {
        sync.revoked = true;
        break;
      }
      if (answer.status === 422 || answer.status === 413 || answer.status === 400) {
        // The batch as a whole was refused: its items are set aside for staff, not resent.
        const problem = await answer.json().catch(() => null);
        await queue.settle(records, records.map((_, index) => ({ index, status: "invalid", problem })));
        continue;
      }
      syncSoon(retryAfter(answer) ?? backoff()); // 429, 503 or another server error
      break;
    }
  } finally {
    sync.running = false;
    if (sync.again && sync.failures === 0) syncSoon(0);
    if (!staffView.hidden) renderStaff();
  }
}

addEventListener("online", () => syncSoon(0));
setInterval(() => { if (!sync.timer || sync.failures === 0) syncSoon(0); }, 30_000);

// --- staff view: five taps on the title within four seconds ------------------------------

let taps = [];
title.addEventListener("pointerdown", () => {
  const now = Date.now();
  taps = [...taps.filter((t) => now - t < 4000), now];
  if (taps.length >= 5 && key) {
    taps = [];
    staffView.hidden = false;
    renderStaff();
  }
});

async function renderStaff() {
  const [waiting, aside] = await Promise.all([queue.count("pending"), queue.setAside()]);
  const last = sync.last
    ? `${sync.last.at.toLocaleString(lang === "en" ? "en-GB" : "id-ID")} — ${sync.last.ok ? words().synced : words().failed}${sync.last.status ? ` (${sync.last.status})` : ""}`
    : words().staffNever;
  const problems = (record) =>
    (record.problem?.errors || []).map((e) => `${e.pointer || e.parameter}: ${e.code}`).join(", ") ||
    record.problem?.detail || record.status;
  staffView.replaceChildren(h("section", { role: "dialog", "aria-modal": "true", "aria-labelledby": "staff-title" },
    h("h2", { id: "staff-title", lang, text: words().staff }),
    sync.revoked ? h("p", { class: "error", role: "alert", text: words().staffRevoked }) : null,
    h("dl", {},
      h("dt", { text: words().staffKey }), h("dd", { id: "staff-key", text: key.name }),
      h("dt", { text: words().staffUnit }), h("dd", { text: form ? `${form.unit.name} (${form.unit.code})` : key.scope }),
      h("dt", { text: words().staffQueue }), h("dd", { id: "staff-pending", text: String(waiting) }),
      h("dt", { text: words().staffLast }), h("dd", { id: "staff-last", text: last }),
      h("dt", { text: words().staffAside }), h("dd", { id: "staff-aside-count", text: String(aside.length) }),
    ),
    h("ul", { id: "staff-aside" }, aside.map((r) => h("li", { "data-id": r.id, text: `${r.id.slice(0, 8)} · ${r.item.collected_at} · ${r.status}: ${problems(r)}` }))),
    h("div", { class: "nav" },
      h("button", { type: "button", class: "secondary", id: "staff-lang", lang: words().otherLang, text: words().other, onclick: () => { lang = words().otherLang; render(); renderStaff(); } }),
      h("button", { type: "button", class: "secondary", id: "staff-unpair", text: words().staffUnpair, onclick: unpair }),
      h("button", { type: "button", class: "secondary", id: "staff-sync", text: words().staffSync, onclick: () => { sync.failures = 0; syncNow(); } }),
      h("button", { type: "button", class: "primary", id: "staff-close", text: words().staffClose, onclick: () => { staffView.hidden = true; } }),
    ),
  ));
}

async function unpair() {
  // The queue stays: a re-paired kiosk sends what it holds.
  await queue.deleteMeta("key");
  key = null;
  staffView.hidden = true;
  render();
}

// --- start -----------------------------------------------------------------------------

langButton.addEventListener("click", () => {
  lang = words().otherLang;
  render();
});

async function start() {
  key = (await queue.getMeta("key")) || null;
  if (!key) {
    renderHeader();
    pairingScreen();
  } else {
    const cached = await queue.getMeta("form");
    if (cached && cached.scope === key.scope) {
      form = cached.body;
      reset(); // the first element at once, from the cached form
      loadForm(false).then((changed) => { if (changed && step === 0) reset(); });
    } else {
      try {
        await loadForm(true);
        reset();
      } catch (error) {
        renderHeader();
        show(h("p", { class: "error", role: "alert", text: error.message }));
        setTimeout(start, 5000);
        return;
      }
    }
    syncSoon(0);
  }
  touched();
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/kiosk/sw.js", { scope: "/kiosk/" });
}

window.skmKiosk = { syncNow, state: () => ({ step, lang, answers: { ...state.answers }, sync: { ...sync } }) };
start();
