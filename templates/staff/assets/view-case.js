// A case: the customer, their answer, the call script beside the form that logs a call, the case's
// history (calls, mail, replies), handing the case back.
import {
  CASE_STATUS,
  CATEGORY,
  api,
  bindDraft,
  clearDraft,
  dueInWords,
  errorBox,
  field,
  fill,
  formatDateTime,
  h,
  heading,
  lang,
  link,
  loadDraft,
  navigate,
  newKey,
  notify,
  now,
  saveDraft,
  setServerNow,
  t,
  tn,
  whoami,
} from "./core.js";


const OUTCOMES = [
  ["reached", "outcome.reached"],
  ["no_answer", "outcome.no_answer"],
  ["voicemail", "outcome.voicemail"],
  ["wrong_number", "outcome.wrong_number"],
  ["declined", "outcome.declined"],
];
const OUTCOME = Object.fromEntries(OUTCOMES);

const PROMISES = [
  ["solution_now", "promise.solution_now"],
  ["improvement_loop", "promise.improvement_loop"],
  ["none", "promise.none"],
];
const PROMISE = Object.fromEntries(PROMISES);

const LANGUAGE = { fr: "language.fr", en: "language.en" };

const ASSIGNMENT = {
  owner: "assignment.owner",
  load: "assignment.load",
  manual: "assignment.manual",
  handback: "assignment.handback",
};

const MAIL_OUT = {
  notify_assigned: "mail_out.notify_assigned",
  notify_reply: "mail_out.notify_reply",
  remind: "mail_out.remind",
  escalate: "mail_out.escalate",
  fallback: "mail_out.fallback",
};

const MAIL_IN = {
  reply: "mail_in.reply",
  auto_reply: "mail_in.auto_reply",
  unsubscribe_request: "mail_in.unsubscribe_request",
};

const MARKS = {
  opened: "event.opened",
  fallback: "event.fallback",
  first_exchange: "event.first_exchange",
  breached: "event.breached",
  second_exchange: "event.second_exchange",
  closed: "event.closed",
};

const CLOSE_REASON = {
  loop_closed: "close_reason.loop_closed",
  unreachable: "close_reason.unreachable",
  erased: "close_reason.erased",
  manual: "close_reason.manual",
};

const DAY = 86_400_000;

/** The same instant, whatever the ISO spelling ("Z" or "+00:00"). */
function sameTime(left, right) {
  return Boolean(left && right) && Date.parse(left) === Date.parse(right);
}

function say(table, code) {
  return table[code] ? t(table[code]) : code || t("none");
}

function facts(...pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(([, value]) => value !== null && value !== undefined && value !== "").map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
  );
}

function dueLine(item) {
  if (item.status === "closed") {
    return h("span", { class: "muted" }, t("case.closed_on", { date: formatDateTime(item.closed_at) }));
  }
  if (item.first_exchange) return h("span", { class: "muted" }, say(CASE_STATUS, item.status));
  const late = item.overdue || new Date(item.due_at) < now();
  const soon = !late && new Date(item.due_at) - now() < DAY;
  return h("span", { class: late ? "late" : soon ? "soon" : null }, dueInWords(item.due_at));
}

// ------------------------------------------------------------------ the customer and their answer
function customerPanel(item) {
  const customer = item.customer || {};
  return h(
    "section",
    { class: "panel", "aria-labelledby": "customer-title" },
    h("h2", { id: "customer-title" }, t("case.customer")),
    facts(
      [t("case.name"), customer.name],
      [t("case.company"), customer.company],
      [t("case.phone"), customer.phone ? h("a", { href: `tel:${customer.phone.replace(/[^\d+]/g, "")}` }, customer.phone) : t("case.no_phone")],
      [t("case.email"), customer.email ? h("a", { href: `mailto:${customer.email}` }, customer.email) : null],
      [t("case.language"), say(LANGUAGE, customer.language)],
      [t("case.assignee"), item.assignee ? item.assignee.name || item.assignee.email : t("case.unassigned")],
    ),
  );
}

function answerPanel(item) {
  const response = item.response || {};
  const score = response.score ?? item.score;
  const category = response.category || item.category;
  const confirmed = response.confirmed ?? item.confirmed;
  return h(
    "section",
    { class: "panel", "aria-labelledby": "answer-title" },
    h("h2", { id: "answer-title" }, t("case.answer")),
    h(
      "p",
      { class: "line" },
      h("span", { class: `badge ${category}` }, say(CATEGORY, category)),
      " ",
      h("strong", {}, t("case.score", { score })),
      " ",
      h("span", { class: confirmed ? "muted" : "badge" }, confirmed ? t("case.confirmed") : t("case.unconfirmed")),
    ),
    response.comment
      ? h("blockquote", { class: "quote", "aria-label": t("case.comment") }, response.comment)
      : h("p", { class: "muted" }, t("case.no_comment")),
    response.created_at ? h("p", { class: "hint" }, t("case.answered_on", { date: formatDateTime(response.created_at) })) : null,
  );
}

// ------------------------------------------------------------------ the script
function scriptPanel(item, caseId) {
  const script = item.script;
  const other = script && script.language === "fr" ? "en" : "fr";
  return h(
    "section",
    { class: "panel script", "aria-labelledby": "script-title", lang: script ? script.language : null },
    h("h2", { id: "script-title" }, script ? script.title : t("case.script")),
    h(
      "p",
      { lang: lang() },
      link(`/staff/cases/${encodeURIComponent(caseId)}?lang=${other}`, other === "fr" ? t("case.script_in_fr") : t("case.script_in_en")),
    ),
    script
      ? (script.sections || []).map((section) =>
          h(
            "section",
            {},
            h("h3", {}, section.heading),
            (section.paragraphs || []).map((text) => h("p", { class: "pre" }, text)),
            section.bullets && section.bullets.length ? h("ul", {}, section.bullets.map((text) => h("li", {}, text))) : null,
          ),
        )
      : h("p", { class: "muted", lang: lang() }, t("case.no_script")),
  );
}

// ------------------------------------------------------------------ logging a call
function radios(name, legend, options, required) {
  return h(
    "fieldset",
    {},
    h("legend", {}, legend),
    h(
      "div",
      { class: "choices" },
      options.map(([value, key]) =>
        h("label", {}, h("input", { type: "radio", name, value, required: required || null }), t(key)),
      ),
    ),
  );
}

function attemptForm(item, caseId, tags, rerender) {
  const draftKey = `attempt:${caseId}`;
  const keyKey = `attempt-key:${caseId}`;
  const awaiting = item.status === "awaiting_second";
  const response = item.response || {};

  const notes = h("textarea", { name: "notes", maxlength: "5000", rows: "4" });
  const score = h("input", { type: "number", name: "confirmed_score", min: "0", max: "10", step: "1", inputmode: "numeric" });
  score.value = String(response.score ?? item.score);
  const followUp = h("input", { type: "checkbox", name: "wants_follow_up", value: "yes" });
  const delivered = h("input", { type: "checkbox", name: "second_exchange", value: "yes" });
  const active = tags.filter((tag) => tag.active);

  const reachedFields = h(
    "div",
    { hidden: true },
    field(t("form.confirmed_score"), score, t("form.confirmed_score_hint")),
    awaiting ? null : radios("promise", t("form.promise"), PROMISES, false),
    awaiting ? h("div", { class: "field" }, h("label", {}, delivered, " ", t("form.second_exchange"))) : null,
  );
  const followUpField = h("div", { class: "field", hidden: true }, h("label", {}, followUp, " ", t("form.wants_follow_up")));
  const tagsField = active.length
    ? h(
        "fieldset",
        {},
        h("legend", {}, t("form.tags")),
        h(
          "div",
          { class: "choices" },
          active.map((tag) =>
            h(
              "label",
              {},
              h("input", { type: "checkbox", name: "tags", value: tag.tag }),
              (lang() === "fr" ? tag.label_fr : tag.label_en) || tag.tag,
            ),
          ),
        ),
        h("p", { class: "hint" }, t("form.tags_hint")),
      )
    : null;
  const problem = h("div", {});
  const submit = h("button", { type: "submit", class: "primary" }, t("form.submit"));
  const form = h(
    "form",
    { "aria-labelledby": "attempt-title", novalidate: true },
    radios("outcome", t("form.outcome"), OUTCOMES, true),
    reachedFields,
    followUpField,
    field(t("form.notes"), notes),
    tagsField,
    problem,
    h("div", { class: "actions" }, submit),
  );

  const outcome = () => (form.elements.namedItem("outcome") ? form.elements.namedItem("outcome").value : "");
  const show = () => {
    const chosen = outcome();
    reachedFields.hidden = chosen !== "reached";
    followUpField.hidden = !(chosen === "reached" || chosen === "declined");
  };
  bindDraft(form, draftKey);
  show();
  form.addEventListener("change", show);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = outcome();
    if (!chosen) {
      fill(problem, errorBox(new Error(t("form.choose_outcome"))));
      form.querySelector('input[name="outcome"]').focus();
      return;
    }
    const body = { outcome: chosen };
    if (notes.value.trim()) body.notes = notes.value;
    body.tags = [...form.querySelectorAll('input[name="tags"]:checked')].map((input) => input.value);
    if (chosen === "reached") {
      if (score.value !== "") body.confirmed_score = Number(score.value);
      if (awaiting) {
        body.second_exchange = delivered.checked;
      } else {
        const promise = form.querySelector('input[name="promise"]:checked');
        if (!promise) {
          fill(problem, errorBox(new Error(t("form.choose_promise"))));
          form.querySelector('input[name="promise"]').focus();
          return;
        }
        body.promise = promise.value;
      }
    }
    if (chosen === "reached" || chosen === "declined") body.wants_follow_up = followUp.checked;
    // one key per draft: a retry (network error, expired session) never logs the call twice
    let key = loadDraft(keyKey);
    if (!key) {
      key = newKey();
      saveDraft(keyKey, key);
    }
    submit.disabled = true;
    fill(problem);
    try {
      await api("POST", `/cases/${encodeURIComponent(caseId)}/attempts`, { body, idempotencyKey: key });
    } catch (error) {
      submit.disabled = false;
      fill(problem, errorBox(error), error.status === 409 ? reloadOffer(rerender) : null);
      return;
    }
    clearDraft(draftKey);
    clearDraft(keyKey);
    notify(t("form.logged", { outcome: say(OUTCOME, chosen) }));
    await rerender({ focus: false });
    const history = document.getElementById("history-title");
    if (history) history.focus();
  });

  return h(
    "section",
    { class: "panel", "aria-labelledby": "attempt-title" },
    h("h2", { id: "attempt-title" }, t("form.title")),
    item.status === "closed" ? h("p", { class: "notice" }, t("form.closed")) : form,
  );
}

function reloadOffer(rerender) {
  return h(
    "p",
    {},
    t("case.changed"),
    " ",
    h("button", { type: "button", onclick: () => rerender({ focus: false }) }, t("case.reload")),
  );
}

// ------------------------------------------------------------------ history
function historyPanel(item, rerender) {
  const me = whoami() || {};
  const attempts = item.attempts || [];
  const messages = item.messages || [];
  const fallbackMail = messages.find((message) => message.direction === "out" && message.kind === "fallback");
  const entries = (item.history || [])
    .filter((event) => !(event.event === "mail_out" && event.kind === "fallback"))
    .slice()
    .reverse()
    .map((event) => {
      let title;
      const details = [];
      if (event.event === "attempt") {
        title = t("event.attempt", { outcome: say(OUTCOME, event.outcome) });
        const attempt = attempts.find((one) => sameTime(one.attempted_at, event.at) && one.outcome === event.outcome);
        if (event.staff_id && event.staff_id === me.staff_id) details.push(h("p", { class: "muted" }, t("event.by_you")));
        else if (item.assignee && event.staff_id === item.assignee.staff_id) {
          details.push(h("p", { class: "muted" }, t("event.by", { name: item.assignee.name || item.assignee.email })));
        }
        if (attempt) {
          if (attempt.confirmed_score !== null && attempt.confirmed_score !== undefined) {
            details.push(h("p", {}, t("event.confirmed_score", { score: attempt.confirmed_score })));
          }
          if (attempt.promise) details.push(h("p", {}, t("event.promise", { promise: say(PROMISE, attempt.promise) })));
          if (attempt.wants_follow_up) details.push(h("p", {}, t("event.wants_follow_up")));
          if (attempt.second_exchange) details.push(h("p", {}, t("event.delivered")));
          if (attempt.tags && attempt.tags.length) details.push(h("p", { class: "muted" }, t("event.tags", { tags: attempt.tags.join(", ") })));
          if (attempt.notes) details.push(h("p", { class: "quote" }, attempt.notes));
        }
      } else if (event.event === "assigned") {
        const name = item.assignee && event.assignee_id === item.assignee.staff_id ? item.assignee.name || item.assignee.email : null;
        title = name ? t("event.assigned_to", { name }) : t("event.assigned");
        if (event.assignment) details.push(h("p", { class: "muted" }, say(ASSIGNMENT, event.assignment)));
      } else if (event.event === "mail_in") {
        title = say(MAIL_IN, event.kind);
        const message = messages.find((one) => one.direction === "in" && sameTime(one.at, event.at) && one.kind === event.kind);
        if (message) {
          if (message.subject) details.push(h("p", { class: "muted" }, message.subject));
          if (message.body) details.push(h("p", { class: "quote" }, message.body));
          if (message.attachment_names && message.attachment_names.length) {
            details.push(h("p", { class: "muted" }, t("event.attachments", { names: message.attachment_names.join(", ") })));
          }
        }
      } else if (event.event === "mail_out") {
        title = say(MAIL_OUT, event.kind);
      } else if (event.event === "closed") {
        title = item.close_reason ? t("event.closed_because", { reason: say(CLOSE_REASON, item.close_reason) }) : t("event.closed");
      } else {
        title = say(MARKS, event.event);
        if (event.event === "fallback" && fallbackMail && fallbackMail.subject) {
          details.push(h("p", { class: "muted" }, fallbackMail.subject));
        }
      }
      return h("li", {}, h("p", {}, h("strong", {}, title), " ", h("time", { datetime: event.at, class: "muted" }, formatDateTime(event.at))), details);
    });
  return h(
    "section",
    { "aria-labelledby": "history-title" },
    h("h2", { id: "history-title", tabindex: "-1" }, t("case.history")),
    h(
      "p",
      {},
      h(
        "button",
        {
          type: "button",
          onclick: async () => {
            await rerender({ focus: false });
            notify(t("case.refreshed"));
          },
        },
        t("case.refresh"),
      ),
    ),
    entries.length ? h("ol", { class: "cards history" }, entries) : h("p", { class: "muted" }, t("case.no_history")),
  );
}

// ------------------------------------------------------------------ hand back
function handBackPanel(item, caseId) {
  const me = whoami() || {};
  if (item.status === "closed" || !item.assignee || item.assignee.staff_id !== me.staff_id) return null;
  const area = h("div", {});
  const problem = h("div", {});
  const ask = () => {
    const confirm = h(
      "button",
      {
        type: "button",
        class: "danger",
        onclick: async () => {
          confirm.disabled = true;
          fill(problem);
          try {
            await api("POST", `/cases/${encodeURIComponent(caseId)}/hand-back`, { body: { version: item.version } });
          } catch (error) {
            confirm.disabled = false;
            fill(problem, errorBox(error), error.status === 409 ? reloadOffer(() => navigate(location.pathname + location.search, { replace: true })) : null);
            return;
          }
          navigate("/staff");
          notify(t("handback.done", { name: (item.customer && item.customer.name) || t("case.title") }));
        },
      },
      t("handback.confirm"),
    );
    fill(
      area,
      h("p", { role: "group", "aria-label": t("handback.question") }, t("handback.question")),
      h("div", { class: "actions" }, confirm, h("button", { type: "button", onclick: reset }, t("handback.keep"))),
    );
    confirm.focus();
  };
  const reset = () => {
    fill(area, h("p", { class: "hint" }, t("handback.hint")), h("button", { type: "button", onclick: ask, id: "hand-back" }, t("handback.button")));
  };
  reset();
  return h(
    "section",
    { class: "panel", "aria-labelledby": "handback-title" },
    h("h2", { id: "handback-title" }, t("handback.title")),
    area,
    problem,
  );
}

// ------------------------------------------------------------------ the page
export async function render({ main, params, query, rerender }) {
  const caseId = params.id;
  const scriptLang = query.lang === "fr" || query.lang === "en" ? query.lang : undefined;
  const [item, taxonomy] = await Promise.all([
    api("GET", `/cases/${encodeURIComponent(caseId)}`, { query: { lang: scriptLang } }),
    api("GET", "/taxonomy").catch(() => ({ tags: [] })),
  ]);
  if (item.as_of) setServerNow(item.as_of);
  const customer = item.customer || {};
  fill(
    main,
    h("p", {}, link("/staff", t("case.back"))),
    heading(customer.name || t("case.title")),
    h(
      "p",
      { class: "line" },
      customer.company ? [h("span", {}, customer.company), " · "] : null,
      h("span", { class: `badge ${item.category}` }, say(CATEGORY, item.category)),
      " ",
      dueLine(item),
      " ",
      item.attempt_count ? h("span", { class: "muted" }, tn("case.attempts", item.attempt_count)) : null,
    ),
    h(
      "div",
      { class: "columns" },
      h("div", {}, customerPanel(item), answerPanel(item), attemptForm(item, caseId, taxonomy.tags || [], rerender)),
      h("div", {}, scriptPanel(item, caseId)),
    ),
    historyPanel(item, rerender),
    handBackPanel(item, caseId),
  );
}
