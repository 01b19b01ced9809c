// The citizen's form (/s/{unit}?t=<ticket>): a phone, one page, over the public endpoints.
// The response's id is chosen once, so pressing Submit again after a dropped connection
// is a retry the service recognises, not a second response.
import { WORDS, loc } from "/static/common/i18n.js";
import {
  h, elementChoices, profileChoices, extraChoices, choices, responseItem, emptyAnswers,
  detailsComplete,
} from "/static/common/survey.js";

const unit = decodeURIComponent(location.pathname.split("/").pop());
const ticket = new URLSearchParams(location.search).get("t");
const screen = document.getElementById("screen");
const title = document.getElementById("title");
const langButton = document.getElementById("lang");
let lang = "id";
let form = null;
let state = emptyAnswers();
let message = null; // a key of WORDS, said in the current language
let sent = false;
let pendingItem = null; // kept for a retry: same id, same content

const words = () => WORDS[lang];

function render() {
  document.documentElement.lang = lang;
  langButton.textContent = words().other;
  langButton.setAttribute("lang", words().otherLang);
  title.textContent = form ? `${words().title} — ${form.unit.name}` : words().title;
  if (!form) return screen.replaceChildren(h("p", { class: "error", role: "alert", text: message ? words()[message] : words().loading }));
  if (sent) {
    return screen.replaceChildren(h("div", { class: "thanks" }, h("h2", { text: words().thanks }), h("p", { text: words().thanksHelp })));
  }
  const definition = form.survey_version.definition;
  const scroll = window.scrollY;
  const parts = [];
  if (definition.intro) parts.push(h("p", { text: loc(definition.intro, lang) }));
  if (form.unit.requires_ticket && !ticket) parts.push(h("p", { class: "error", role: "alert", text: words().ticketMissing }));
  if (form.services.length > 1) {
    parts.push(h("fieldset", {}, h("legend", { text: words().service }),
      choices(words().service, form.services.map((s) => [s.code, s.name]), state.service, pick((v) => { state.service = v; }), "choices small services")));
  }
  definition.questions.forEach((question, index) => {
    parts.push(h("fieldset", { class: "element", "data-element": question.element },
      h("legend", { text: `${index + 1}. ${loc(question.text, lang)}` }),
      elementChoices(question, lang, state.answers[question.element], pick((v) => { state.answers[question.element] = v; }))));
  });
  for (const question of definition.extra_questions) {
    parts.push(h("fieldset", {}, h("legend", { text: loc(question.text, lang) }),
      extraChoices(question, lang, state.extra[question.key], pick((v) => { state.extra[question.key] = v; }))));
  }
  for (const field of form.profile_fields) {
    parts.push(h("fieldset", {}, h("legend", { text: loc(field.label, lang) }),
      profileChoices(field, lang, state.profile[field.field], pick((v) => {
        state.profile[field.field] = state.profile[field.field] === v ? null : v;
      }))));
  }
  const text = h("textarea", { id: "suggestion", rows: "3", maxlength: String(form.limits.max_suggestion_length) });
  text.value = state.suggestion;
  text.addEventListener("input", () => { state.suggestion = text.value; });
  parts.push(h("label", { for: "suggestion", text: loc(definition.suggestion_prompt, lang) || words().suggestion }), text);
  if (message) parts.push(h("p", { class: "error", role: "alert", id: "message", text: words()[message] }));
  parts.push(h("div", { class: "nav" }, h("span"), h("button", { type: "button", class: "primary", id: "submit", text: words().submit, onclick: submit })));
  screen.replaceChildren(...parts);
  window.scrollTo(0, scroll);
}

const pick = (set) => (value) => { set(value); pendingItem = null; render(); };

function complete() {
  const required = form.survey_version.definition.questions.filter((q) => q.required);
  return required.every((q) => state.answers[q.element]) && detailsComplete(form, state);
}

async function submit() {
  if (!complete()) { message = "required"; return render(); }
  pendingItem ??= { ...responseItem(form, state, "web"), ...(ticket ? { ticket } : {}) };
  message = "sending";
  render();
  let answer;
  try {
    answer = await fetch("/v1/public/responses", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(pendingItem),
    });
  } catch {
    message = "retry";
    return render();
  }
  const problem = answer.ok ? null : await answer.json().catch(() => ({}));
  const code = problem?.errors?.[0]?.code;
  if (answer.ok) { sent = true; message = null; }
  else if (answer.status === 409 && problem.type?.endsWith("ticket-used")) message = "ticketUsed";
  else if (code === "bad_ticket") message = "ticketBad";
  else if (code === "missing" && problem.errors[0].pointer === "/ticket") message = "ticketMissing";
  else message = answer.status >= 500 || answer.status === 429 ? "retry" : "required";
  render();
}

langButton.addEventListener("click", () => { lang = words().otherLang; render(); });

async function start() {
  try {
    const answer = await fetch(`/v1/public/units/${encodeURIComponent(unit)}/form`);
    if (!answer.ok) { message = "notPublic"; return render(); }
    form = await answer.json();
    if (form.services.length === 1) state.service = form.services[0].code;
  } catch {
    message = "offline";
  }
  render();
}
start();
