// All cases (managers): GET /cases with its filters kept in the URL, a page at a time ("More"), and
// reassignment to another active caller, version-checked. reassignControl() also serves the case page.
import {
  api,
  dueInWords,
  errorBox,
  field,
  fill,
  formatDate,
  h,
  heading,
  link,
  loadMessages,
  navigate,
  notify,
  setServerNow,
  t,
  tn,
} from "./core.js";

const STATUSES = { open: "cases.status.open", awaiting_second: "cases.status.awaiting_second", closed: "cases.status.closed" };
const CATEGORIES = { detractor: "cases.category.detractor", passive: "cases.category.passive", promoter: "cases.category.promoter" };
const FILTERS = ["status", "category", "overdue", "assignee", "wave", "unconfirmed"];

function option(value, text, selected) {
  return h("option", { value, selected: selected === value }, text);
}

function select(name, current, options) {
  return h("select", { name }, options.map(([value, text]) => option(value, text, current || "")));
}

function checkbox(name, checked, label) {
  const box = h("input", { type: "checkbox", name, value: "true", checked });
  box.id = `filter-${name}`;
  return h("div", { class: "field choices" }, h("label", { for: box.id }, box, label));
}

function waveLabel(wave) {
  return wave.starts_at ? `${wave.name} (${formatDate(wave.starts_at)})` : wave.name;
}

function filtersForm(query, staff, waves) {
  const staffOptions = staff.map((person) => [person.staff_id, person.active ? person.name : t("cases.inactive_name", { name: person.name })]);
  const waveOptions = waves.map((wave) => [wave.wave_id, waveLabel(wave)]);
  if (query.wave && !waves.some((wave) => wave.wave_id === query.wave)) waveOptions.unshift([query.wave, query.wave]);
  const form = h(
    "form",
    {
      class: "panel filters",
      role: "search",
      "aria-label": t("cases.filters"),
      onsubmit: (event) => {
        event.preventDefault();
        const data = new FormData(form);
        const params = new URLSearchParams();
        for (const name of FILTERS) {
          const value = data.get(name);
          if (value) params.set(name, value);
        }
        const text = params.toString();
        navigate(text ? `/staff/cases?${text}` : "/staff/cases");
      },
    },
    field(
      t("cases.filter.status"),
      select("status", query.status, [["", t("cases.status.open")], ["awaiting_second", t("cases.status.awaiting_second")], ["closed", t("cases.status.closed")]]),
    ),
    field(
      t("cases.filter.category"),
      select("category", query.category, [
        ["", t("cases.any")],
        ["detractor", t("cases.category.detractor")],
        ["passive", t("cases.category.passive")],
        ["promoter", t("cases.category.promoter")],
      ]),
    ),
    field(t("cases.filter.assignee"), select("assignee", query.assignee, [["", t("cases.anyone")], ["none", t("cases.no_assignee")], ...staffOptions])),
    field(t("cases.filter.wave"), select("wave", query.wave, [["", t("cases.any_wave")], ...waveOptions])),
    checkbox("overdue", query.overdue === "true", t("cases.filter.overdue")),
    checkbox("unconfirmed", query.unconfirmed === "true", t("cases.filter.unconfirmed")),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, t("cases.filter.apply")),
      link("/staff/cases", t("cases.filter.clear")),
    ),
  );
  return form;
}

function apiQuery(query) {
  const chosen = {};
  for (const name of FILTERS) if (query[name]) chosen[name] = query[name];
  if (chosen.overdue && chosen.status && chosen.status !== "open") delete chosen.status; // overdue cases are open ones
  return chosen;
}

function due(caseItem) {
  if (caseItem.status === "closed") return h("span", { class: "muted" }, t("cases.closed_on", { date: formatDate(caseItem.closed_at) }));
  if (caseItem.first_exchange) return h("span", { class: "muted" }, t("cases.reached"));
  return h("span", { class: caseItem.overdue ? "late" : "" }, dueInWords(caseItem.due_at));
}

function row(caseItem, names) {
  const customer = caseItem.customer || {};
  const assignee = caseItem.assignee_id ? names.get(caseItem.assignee_id) || caseItem.assignee_id : null;
  const actions = h("td", { "data-label": t("cases.col.actions") });
  const tr = h(
    "tr",
    { "data-case": caseItem.case_id },
    h("td", { "data-label": t("cases.col.customer") }, link(`/staff/cases/${encodeURIComponent(caseItem.case_id)}`, customer.name || t("cases.unnamed"))),
    h("td", { "data-label": t("cases.col.company") }, customer.company || t("none")),
    h("td", { "data-label": t("cases.col.category") }, h("span", { class: `badge ${caseItem.category}` }, t(CATEGORIES[caseItem.category] || "cases.category.unknown"))),
    h(
      "td",
      { "data-label": t("cases.col.score") },
      String(caseItem.score),
      caseItem.confirmed ? null : h("span", { class: "muted" }, ` ${t("cases.unconfirmed")}`),
    ),
    h("td", { "data-label": t("cases.col.assignee") }, assignee || h("span", { class: "late" }, t("cases.no_assignee"))),
    h("td", { "data-label": t("cases.col.due") }, due(caseItem)),
    h("td", { "data-label": t("cases.col.status") }, t(STATUSES[caseItem.status] || "cases.status.unknown")),
    actions,
  );
  const restore = () => {
    fill(
      actions,
      caseItem.status === "closed"
        ? null
        : h(
            "button",
            {
              type: "button",
              "aria-label": t("cases.reassign_named", { name: customer.name || t("cases.unnamed") }),
              onclick: () => {
                fill(
                  actions,
                  reassignControl(
                    caseItem,
                    (moved) => {
                      const updated = row({ ...moved, customer }, names);
                      tr.replaceWith(updated);
                      updated.querySelector("a").focus();
                    },
                    () => {
                      restore();
                      actions.querySelector("button").focus();
                    },
                  ),
                );
              },
            },
            t("cases.reassign"),
          ),
    );
  };
  restore();
  return tr;
}

/**
 * A small form to give `caseItem` (with its `version` and `assignee_id`) to another active caller,
 * each shown with their open cases and capacity. onDone(case) after the move; onCancel() if given
 * shows a Cancel button. Usable on any page: it loads its own messages.
 */
export function reassignControl(caseItem, onDone, onCancel) {
  const box = h("div", { class: "reassign" }, h("p", { class: "loading" }, t("loading")));
  (async () => {
    try {
      const [, directory] = await Promise.all([loadMessages("cases"), api("GET", "/directory", { query: { active: "true", group: "caller" } })]);
      const callers = directory.staff.filter((person) => person.staff_id !== caseItem.assignee_id);
      const choice = h(
        "select",
        { name: "to_staff_id", required: true },
        option("", t("cases.reassign.choose"), ""),
        callers.map((person) =>
          option(person.staff_id, t("cases.reassign.caller", { name: person.name, open: person.open_cases, capacity: person.capacity }), ""),
        ),
      );
      const problem = h("div", {});
      const send = h("button", { type: "submit", class: "primary" }, t("cases.reassign.submit"));
      const form = h(
        "form",
        {
          onsubmit: async (event) => {
            event.preventDefault();
            if (!choice.value) {
              fill(problem, errorBox(new Error(t("cases.reassign.pick"))));
              choice.focus();
              return;
            }
            const chosen = callers.find((person) => person.staff_id === choice.value);
            send.disabled = true;
            fill(problem);
            try {
              const moved = await api("POST", `/cases/${encodeURIComponent(caseItem.case_id)}/reassign`, {
                body: { to_staff_id: choice.value, version: caseItem.version },
              });
              notify(t("cases.reassign.done", { name: chosen ? chosen.name : choice.value }));
              onDone(moved);
            } catch (error) {
              send.disabled = false;
              fill(problem, errorBox(error.status === 409 ? new Error(`${t("cases.reassign.conflict")} (${error.message})`) : error));
            }
          },
        },
        field(t("cases.reassign.to"), choice),
        problem,
        h(
          "div",
          { class: "actions" },
          send,
          onCancel ? h("button", { type: "button", onclick: onCancel }, t("cancel")) : null,
        ),
      );
      fill(box, form);
      choice.focus();
    } catch (error) {
      fill(box, errorBox(error));
    }
  })();
  return box;
}

export async function render({ main, query }) {
  const [list, directory, waves] = await Promise.all([
    api("GET", "/cases", { query: { ...apiQuery(query), limit: 50 } }),
    api("GET", "/directory"),
    api("GET", "/waves"),
  ]);
  if (list.as_of) setServerNow(list.as_of);
  const names = new Map(directory.staff.map((person) => [person.staff_id, person.name]));
  const tbody = h("tbody", {});
  let shown = 0;
  const count = h("p", { class: "muted", id: "cases-count" });
  const more = h("div", { class: "actions" });
  const problem = h("div", {});

  function add(page) {
    if (page.as_of) setServerNow(page.as_of);
    for (const caseItem of page.cases) tbody.appendChild(row(caseItem, names));
    shown += page.cases.length;
    fill(count, tn("cases.shown", shown));
    fill(
      more,
      page.next_cursor
        ? h(
            "button",
            {
              type: "button",
              onclick: async (event) => {
                event.target.disabled = true;
                fill(problem);
                try {
                  const before = tbody.rows.length;
                  add(await api("GET", "/cases", { query: { ...apiQuery(query), limit: 50, cursor: page.next_cursor } }));
                  const first = tbody.rows[before];
                  if (first) first.querySelector("a").focus();
                } catch (error) {
                  event.target.disabled = false;
                  fill(problem, errorBox(error));
                }
              },
            },
            t("cases.more"),
          )
        : null,
    );
  }

  const table = h(
    "table",
    { class: "list", "aria-label": t("cases.caption") },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        [
          "cases.col.customer",
          "cases.col.company",
          "cases.col.category",
          "cases.col.score",
          "cases.col.assignee",
          "cases.col.due",
          "cases.col.status",
          "cases.col.actions",
        ].map((key) => h("th", { scope: "col" }, t(key))),
      ),
    ),
    tbody,
  );
  add(list);
  fill(
    main,
    heading(t("cases.title")),
    filtersForm(query, directory.staff, waves.waves),
    count,
    list.cases.length ? table : h("p", { class: "notice" }, t("cases.empty")),
    problem,
    more,
  );
}
