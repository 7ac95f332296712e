// My callbacks: the signed-in caller's cases not closed, overdue first then by due date (the API's
// order), each a link to its case page.
import { CASE_STATUS, CATEGORY, api, dueInWords, fill, h, heading, link, now, setServerNow, t, tn } from "./core.js";


const DAY = 86_400_000;

function due(entry) {
  if (entry.first_exchange) {
    // the customer was heard (a call or their reply): no first-exchange due date to chase
    return h("span", { class: "muted" }, CASE_STATUS[entry.status] ? t(CASE_STATUS[entry.status]) : entry.status);
  }
  const late = entry.overdue || new Date(entry.due_at) < now();
  const soon = !late && new Date(entry.due_at) - now() < DAY;
  return h("span", { class: late ? "late" : soon ? "soon" : null }, dueInWords(entry.due_at));
}

function card(entry) {
  const customer = entry.customer || {};
  const name = customer.name || t("queue.no_name");
  return h(
    "li",
    {},
    link(
      `/staff/cases/${encodeURIComponent(entry.case_id)}`,
      h(
        "span",
        { class: "line" },
        h("span", { class: "title" }, name),
        customer.company ? h("span", { class: "muted" }, customer.company) : null,
      ),
      h(
        "span",
        { class: "line" },
        h("span", { class: `badge ${entry.category}` }, CATEGORY[entry.category] ? t(CATEGORY[entry.category]) : entry.category),
        h("span", {}, t("queue.score", { score: entry.score })),
        entry.confirmed ? null : h("span", { class: "badge" }, t("queue.unconfirmed")),
        due(entry),
        entry.attempt_count ? h("span", { class: "muted" }, tn("queue.attempts", entry.attempt_count)) : null,
      ),
    ),
  );
}

export async function render({ main }) {
  const queue = await api("GET", "/cases/mine");
  if (queue.as_of) setServerNow(queue.as_of);
  const cases = queue.cases || [];
  const late = cases.filter((entry) => entry.overdue).length;
  const summary =
    cases.length === 0
      ? null
      : late
        ? t("queue.summary_late", { count: tn("queue.count", cases.length), late: tn("queue.late", late) })
        : tn("queue.count", cases.length);
  fill(
    main,
    heading(t("queue.title")),
    cases.length === 0
      ? h("p", { class: "notice" }, t("queue.empty"))
      : [h("h2", { id: "queue-summary" }, summary), h("ol", { class: "cards", "aria-labelledby": "queue-summary" }, cases.map(card))],
  );
}
