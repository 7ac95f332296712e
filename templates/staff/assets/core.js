// The staff pages' shared pieces: messages (fr, en), safe DOM building, the API client, drafts,
// dates in words. Views (view-*.js) import from here; nothing here knows a view.
//
// Customer text is only ever set as text: h() makes text nodes of strings, and no code of these
// pages assigns innerHTML, outerHTML or insertAdjacentHTML (a test holds that).

const CONFIG = JSON.parse(document.getElementById("closeloop-config").textContent);
export const config = Object.freeze({
  signInUrl: CONFIG.sign_in_url,
  clientId: CONFIG.client_id,
  redirectUri: `${location.origin}/staff/callback`,
  signedOutUri: `${location.origin}/staff/signed-out`,
});

// ------------------------------------------------------------------ messages
const catalogs = { fr: {}, en: {} };
export const LANGUAGES = ["fr", "en"];
let current = "en";

/** Load messages-<name>.json ({"fr": {...}, "en": {...}}) into the catalogs, once. */
const loaded = new Set();
export async function loadMessages(name) {
  if (loaded.has(name)) return;
  const response = await fetch(`/staff/assets/messages-${name}.json`, { cache: "no-cache" });
  if (!response.ok) throw new Error(`messages-${name}.json: ${response.status}`);
  const messages = await response.json();
  for (const language of LANGUAGES) Object.assign(catalogs[language], messages[language] || {});
  loaded.add(name);
}

export function lang() {
  return current;
}

export function setLang(language) {
  current = LANGUAGES.includes(language) ? language : "en";
  document.documentElement.lang = current;
  try {
    localStorage.setItem("closeloop.lang", current);
  } catch (_) {
    /* private mode: the choice lasts this page */
  }
}

export function savedLang() {
  try {
    return localStorage.getItem("closeloop.lang");
  } catch (_) {
    return null;
  }
}

/** The message `key` in the current language, {name} placeholders filled; a missing key shows as ⟦key⟧. */
export function t(key, values = {}) {
  const text = catalogs[current][key];
  if (text === undefined) return `⟦${key}⟧`;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** t() with a count: key.one / key.other. */
export function tn(key, count, values = {}) {
  return t(`${key}.${count === 1 || (current === "fr" && count === 0) ? "one" : "other"}`, { count, ...values });
}

/** The names of a response's category and of a case's status, as every page shows them. */
export const CATEGORY = {
  detractor: "category.detractor",
  passive: "category.passive",
  promoter: "category.promoter",
};
export const CASE_STATUS = {
  open: "status.open",
  awaiting_second: "status.awaiting_second",
  closed: "status.closed",
};

// ------------------------------------------------------------------ DOM
/**
 * An element: h("button", {type: "button", onclick: fn, class: "x", "aria-label": t("...")}, "text", child).
 * Strings and numbers become text nodes; null, undefined and false are skipped; arrays are flattened.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else if (name === "for") {
      element.htmlFor = value;
    } else if (name === "value" || name === "checked" || name === "selected" || name === "disabled") {
      element[name] = value;
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.appendChild(child);
    else element.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let fieldIds = 0;
/** A labelled field: the label is tied to the control (given or made), with an optional hint. */
export function field(label, control, hint) {
  if (!control.id) control.id = `field-${++fieldIds}`;
  const parts = [h("label", { for: control.id }, label), control];
  if (hint) {
    const hintId = `${control.id}-hint`;
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("p", { class: "hint", id: hintId }, hint));
  }
  return h("div", { class: "field" }, parts);
}

/** A link inside the pages: navigates without reloading. */
export function link(path, ...children) {
  return h(
    "a",
    {
      href: path,
      onclick: (event) => {
        if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
        event.preventDefault();
        navigate(path);
      },
    },
    children,
  );
}

/** Say something to screen readers and sighted users (the status line). */
export function notify(text) {
  const status = document.getElementById("status");
  status.textContent = "";
  window.setTimeout(() => {
    status.textContent = text;
  }, 30);
}

/** A visible, announced error (ApiError or any Error). */
export function errorBox(error) {
  const message = error && error.message ? error.message : String(error);
  return h("div", { class: "error", role: "alert" }, message);
}

// ------------------------------------------------------------------ navigation (set by app.js)
let navigator_ = (path) => {
  location.assign(path);
};
export function setNavigator(fn) {
  navigator_ = fn;
}
export function navigate(path, options = {}) {
  navigator_(path, options);
}

// ------------------------------------------------------------------ session and API
const SESSION_KEY = "closeloop.session";

export function session() {
  try {
    const saved = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    if (saved && saved.idToken && saved.expiresAt > Date.now() + 10_000) return saved;
  } catch (_) {
    /* no session */
  }
  return null;
}

export function saveSession(idToken, expiresIn) {
  localStorage.setItem(SESSION_KEY, JSON.stringify({ idToken, expiresAt: Date.now() + expiresIn * 1000 }));
}

export function forgetSession() {
  localStorage.removeItem(SESSION_KEY);
}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

let onExpired = () => {};
export function setOnExpired(fn) {
  onExpired = fn;
}

/** A fresh Idempotency-Key: send the same one again when retrying the same action. */
export function newKey() {
  return crypto.randomUUID();
}

/**
 * Call the staff API: api("GET", "/cases/mine"), api("POST", "/cases/1/attempts", {body, idempotencyKey}).
 * JSON in and out; the reader's language in Accept-Language (errors come back in it). A 401 sends
 * the person to sign in (drafts are kept) and never resolves; other errors throw ApiError with the
 * API's message.
 */
export async function api(method, path, options = {}) {
  const current = session();
  if (!current) {
    onExpired();
    return new Promise(() => {});
  }
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(options.query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Authorization: `Bearer ${current.idToken}`, "Accept-Language": lang(), Accept: "application/json" };
  let body;
  if (options.raw !== undefined) {
    body = options.raw;
    headers["Content-Type"] = options.contentType || "application/octet-stream";
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["Content-Type"] = "application/json";
  }
  if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
  Object.assign(headers, options.headers || {});
  let response;
  try {
    response = await fetch(url, { method, headers, body });
  } catch (_) {
    throw new ApiError(0, t("error.network"), null);
  }
  if (response.status === 401) {
    onExpired();
    return new Promise(() => {});
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = text;
  }
  if (!response.ok) {
    const message =
      (data && typeof data === "object" && (data.message || data.detail)) || t("error.status", { status: response.status });
    throw new ApiError(response.status, typeof message === "string" ? message : JSON.stringify(message), data);
  }
  return data;
}

// ------------------------------------------------------------------ who is signed in
let me = null;
export function setMe(value) {
  me = value;
}
/** The signed-in staff member (GET /me), with is("manager") etc. */
export function whoami() {
  return me;
}
export function is(group) {
  return Boolean(me && (me.groups || []).includes(group));
}
export function isManager() {
  return is("manager") || is("admin");
}

// ------------------------------------------------------------------ drafts
/**
 * What a person typed in a form, kept in the browser until it is sent: an expired session, a
 * reload or a closed tab loses nothing. bindDraft(form, "attempt:<case id>") restores the saved
 * values into the form's named fields and saves on every change; clearDraft() once sent.
 */
const DRAFT_PREFIX = "closeloop.draft.";

export function loadDraft(key) {
  try {
    return JSON.parse(localStorage.getItem(DRAFT_PREFIX + key) || "null");
  } catch (_) {
    return null;
  }
}

export function saveDraft(key, value) {
  try {
    localStorage.setItem(DRAFT_PREFIX + key, JSON.stringify(value));
  } catch (_) {
    /* full or private: nothing to do */
  }
}

export function clearDraft(key) {
  localStorage.removeItem(DRAFT_PREFIX + key);
}

function formValues(form) {
  const values = {};
  for (const element of form.elements) {
    if (!element.name || element.type === "password" || element.type === "file" || element.type === "hidden") continue;
    if (element.type === "checkbox") {
      values[element.name] = values[element.name] || [];
      if (element.checked) values[element.name].push(element.value);
    } else if (element.type === "radio") {
      if (element.checked) values[element.name] = element.value;
    } else {
      values[element.name] = element.value;
    }
  }
  return values;
}

export function bindDraft(form, key) {
  const saved = loadDraft(key);
  if (saved) {
    for (const element of form.elements) {
      if (!element.name || !(element.name in saved)) continue;
      const value = saved[element.name];
      if (element.type === "checkbox") element.checked = Array.isArray(value) && value.includes(element.value);
      else if (element.type === "radio") element.checked = element.value === value;
      else if (element.type !== "file" && element.type !== "hidden") element.value = value;
    }
  }
  const save = () => saveDraft(key, formValues(form));
  form.addEventListener("input", save);
  form.addEventListener("change", save);
  return Boolean(saved);
}

// ------------------------------------------------------------------ dates
/** The domain's "now" as the API last told it (`as_of`), else the browser's. */
let serverOffset = 0;
export function setServerNow(isoText) {
  const parsed = Date.parse(isoText);
  if (!Number.isNaN(parsed)) serverOffset = parsed - Date.now();
}
export function now() {
  return new Date(Date.now() + serverOffset);
}

function locale() {
  return current === "fr" ? "fr-FR" : "en-GB";
}

export function formatDate(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeZone: "Europe/Paris" }).format(new Date(iso));
}

export function formatDateTime(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short", timeZone: "Europe/Paris" }).format(
    new Date(iso),
  );
}

function parisDay(date) {
  const [year, month, day] = new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Paris" }).format(date).split("-");
  return Date.UTC(Number(year), Number(month) - 1, Number(day)) / 86_400_000;
}

/**
 * A due date in words, against the domain's now: "due in 3 hours", "due today", "due tomorrow",
 * "due in 4 days", "3 hours late", "1 day late", "2 days late" (calendar days, Europe/Paris).
 */
export function dueInWords(dueIso, reference = now()) {
  const due = new Date(dueIso);
  const days = parisDay(due) - parisDay(reference);
  const hours = Math.round((due - reference) / 3_600_000);
  if (due >= reference) {
    if (days === 0) return hours <= 1 ? t("due.within_hour") : t("due.in_hours", { count: hours });
    if (days === 1) return t("due.tomorrow");
    return t("due.in_days", { count: days });
  }
  if (days === 0) return Math.abs(hours) <= 1 ? t("due.late_hour") : t("due.late_hours", { count: Math.abs(hours) });
  return tn("due.late_days", Math.abs(days));
}

// ------------------------------------------------------------------ page frame
/** Set the document title and return the page's heading (focused by the router after navigation). */
export function heading(text) {
  document.title = `${text} · closeloop`;
  return h("h1", { id: "page-title", tabindex: "-1" }, text);
}
