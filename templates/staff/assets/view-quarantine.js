// Quarantined mail (managers): a month at a time, newest first; each mail's reason, sender and
// subject (as text), and "mark handled".
import { api, errorBox, field, fill, formatDateTime, h, heading, navigate, notify, t } from "./core.js";

const REASONS = {
  spam: "quarantine.reason.spam",
  virus: "quarantine.reason.virus",
  no_token: "quarantine.reason.no_token",
  unknown_token: "quarantine.reason.unknown_token",
  expired_token: "quarantine.reason.expired_token",
  unparseable: "quarantine.reason.unparseable",
  too_large: "quarantine.reason.too_large",
};
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
const COLUMNS = [
  "quarantine.col.received",
  "quarantine.col.reason",
  "quarantine.col.sender",
  "quarantine.col.subject",
  "quarantine.col.size",
  "quarantine.col.state",
];

function shift(month, by) {
  const [year, number] = month.split("-").map(Number);
  const index = year * 12 + (number - 1) + by;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, "0")}`;
}

export async function render({ main, query }) {
  const wanted = MONTH.test(query.month || "") ? query.month : undefined;
  const page = await api("GET", "/quarantine", { query: { month: wanted } });
  const month = page.month;
  const picker = h("input", { type: "month", name: "month", value: month, required: true });
  const tbody = h("tbody", {});
  const more = h("div", { class: "actions" });
  fill(
    main,
    heading(t("quarantine.title")),
    h("p", { class: "muted" }, t("quarantine.intro")),
    h(
      "form",
      {
        class: "filters quarantine-month",
        onsubmit: (event) => {
          event.preventDefault();
          if (MONTH.test(picker.value)) navigate(`/staff/quarantine?month=${picker.value}`);
        },
      },
      field(t("quarantine.month"), picker),
      h("button", { type: "submit" }, t("quarantine.show")),
      h("button", { type: "button", onclick: () => navigate(`/staff/quarantine?month=${shift(month, -1)}`) }, t("quarantine.previous")),
      h("button", { type: "button", onclick: () => navigate(`/staff/quarantine?month=${shift(month, 1)}`) }, t("quarantine.next")),
    ),
    page.items.length
      ? h("table", { class: "list" }, h("thead", {}, h("tr", {}, COLUMNS.map((key) => h("th", { scope: "col" }, t(key))))), tbody)
      : h("p", {}, t("quarantine.empty")),
    more,
  );
  const show = (found) => {
    for (const item of found.items) tbody.appendChild(row(item));
    fill(more);
    if (found.next) {
      more.appendChild(
        h(
          "button",
          {
            type: "button",
            onclick: async () => {
              try {
                show(await api("GET", "/quarantine", { query: { month, next: found.next } }));
              } catch (error) {
                fill(more, errorBox(error));
              }
            },
          },
          t("quarantine.more"),
        ),
      );
    }
  };
  show(page);
}

function row(item) {
  const state = h("td", { "data-label": t("quarantine.col.state") });
  const subject = item.subject || t("quarantine.no_subject");
  const showState = (current) => {
    if (current.handled) {
      fill(state, h("span", { class: "handled" }, t("quarantine.handled", { date: formatDateTime(current.handled_at) })));
      return;
    }
    const problem = h("div", {});
    const button = h(
      "button",
      {
        type: "button",
        "aria-label": t("quarantine.mark_handled_label", { subject }),
        onclick: async () => {
          button.disabled = true;
          fill(problem);
          try {
            const handled = await api("POST", `/quarantine/${encodeURIComponent(current.id)}/handled`);
            showState(handled);
            notify(t("quarantine.marked"));
          } catch (error) {
            button.disabled = false;
            fill(problem, errorBox(error));
          }
        },
      },
      t("quarantine.mark_handled"),
    );
    fill(state, button, problem);
  };
  showState(item);
  return h(
    "tr",
    {},
    h("td", { "data-label": t("quarantine.col.received") }, formatDateTime(item.received_at)),
    h("td", { "data-label": t("quarantine.col.reason") }, REASONS[item.reason] ? t(REASONS[item.reason]) : item.reason_text || item.reason),
    h("td", { "data-label": t("quarantine.col.sender") }, item.sender || t("quarantine.no_sender")),
    h("td", { "data-label": t("quarantine.col.subject") }, subject),
    h("td", { "data-label": t("quarantine.col.size") }, t("quarantine.size_kb", { size: Math.max(1, Math.round((item.size || 0) / 1024)) })),
    state,
  );
}
