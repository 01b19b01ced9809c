// What the kiosk and the citizen's form share: building DOM, one element's question with
// its four answer buttons (text on every button, never only a face or a colour), the
// profile bands, the service choice, and the response as the API takes it.
import { loc } from "./i18n.js";

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child != null && child !== false) node.append(child);
  }
  return node;
}

/** A group of choice buttons; `picked` is the chosen value (aria-pressed shows it). */
export function choices(name, options, picked, onPick, className = "choices") {
  return h(
    "div",
    { class: className, role: "group", "aria-label": name },
    options.map(([value, label, extra]) =>
      h("button", {
        type: "button",
        class: `choice ${extra || ""}`,
        "data-value": value,
        "aria-pressed": String(value === picked),
        text: label,
        onclick: () => onPick(value),
      }),
    ),
  );
}

/** One element's question and its four options, in the version's order. */
export function elementChoices(question, lang, picked, onPick) {
  const options = question.options.map((o) => [o.score, loc(o.label, lang), `score-${o.score}`]);
  return choices(loc(question.text, lang), options, picked, onPick, "choices answers");
}

export function profileChoices(field, lang, picked, onPick) {
  const options = field.options.map((o) => [o.code, loc(o.label, lang)]);
  return choices(loc(field.label, lang), options, picked, onPick, "choices small");
}

export function extraChoices(question, lang, picked, onPick) {
  const options = question.options.map((o) => [o.value, loc(o.label, lang)]);
  return choices(loc(question.text, lang), options, picked, onPick, "choices small");
}

export function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The response as POST /v1/responses (and its batch) take it. */
export function responseItem(form, state, channel) {
  const profile = Object.fromEntries(Object.entries(state.profile).filter(([, v]) => v));
  const extra = Object.fromEntries(Object.entries(state.extra).filter(([, v]) => v));
  const item = {
    id: newId(),
    unit: form.unit.code,
    service: state.service,
    survey_version_id: form.survey_version.id,
    channel,
    collected_at: new Date().toISOString(),
    answers: { ...state.answers },
    profile,
  };
  if (Object.keys(extra).length) item.extra_answers = extra;
  const suggestion = (state.suggestion || "").trim();
  if (suggestion) item.suggestion = suggestion;
  return item;
}

export const emptyAnswers = () => ({ answers: {}, profile: {}, extra: {}, service: null, suggestion: "" });

/** Whether the details a response needs are there: a service, the required extras. */
export function detailsComplete(form, state) {
  const required = form.survey_version.definition.extra_questions.filter((q) => q.required);
  return Boolean(state.service) && required.every((q) => state.extra[q.key]);
}
