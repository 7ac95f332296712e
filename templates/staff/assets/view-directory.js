// The staff directory (managers read it, admins write it): the list with its filters kept in the URL,
// a person's page (fields, open cases against capacity), and for admins: add, edit (version-checked),
// deactivate or reactivate, and import a staff CSV with the import's report.
import { api, errorBox, field, fill, h, heading, is, link, navigate, notify, t, tn } from "./core.js";

const GROUPS = { caller: "directory.group.caller", manager: "directory.group.manager", admin: "directory.group.admin" };
const LANGUAGES = { fr: "directory.language.fr", en: "directory.language.en" };
const OUTCOMES = { created: "directory.outcome.created", updated: "directory.outcome.updated", unchanged: "directory.outcome.unchanged" };

function groupNames(groups) {
  return (groups || []).map((group) => (GROUPS[group] ? t(GROUPS[group]) : group)).join(", ") || t("none");
}

function conflictAware(error) {
  return error.status === 409 ? new Error(`${t("directory.conflict")} (${error.message})`) : error;
}

function option(value, text, current) {
  return h("option", { value, selected: current === value }, text);
}

function input(type, name, value, attributes = {}) {
  return h("input", { type, name, value: value === null || value === undefined ? "" : String(value), ...attributes });
}

// ------------------------------------------------------------------ the list

function filtersForm(query) {
  const form = h(
    "form",
    {
      class: "panel filters",
      role: "search",
      "aria-label": t("directory.filters"),
      onsubmit: (event) => {
        event.preventDefault();
        const params = new URLSearchParams();
        for (const [name, value] of new FormData(form)) if (value) params.set(name, String(value).trim());
        const text = params.toString();
        navigate(text ? `/staff/directory?${text}` : "/staff/directory");
      },
    },
    field(
      t("directory.filter.active"),
      h(
        "select",
        { name: "active" },
        option("", t("directory.filter.everyone"), query.active || ""),
        option("true", t("directory.active"), query.active || ""),
        option("false", t("directory.inactive"), query.active || ""),
      ),
    ),
    field(
      t("directory.filter.group"),
      h(
        "select",
        { name: "group" },
        option("", t("directory.filter.any_group"), query.group || ""),
        Object.entries(GROUPS).map(([group, key]) => option(group, t(key), query.group || "")),
      ),
    ),
    field(t("directory.filter.department"), input("text", "department", query.department, { autocomplete: "off" })),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, t("directory.filter.apply")),
      link("/staff/directory", t("directory.filter.clear")),
    ),
  );
  return form;
}

function staffTable(staff) {
  return h(
    "table",
    { class: "list" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["directory.col.name", "directory.col.email", "directory.col.department", "directory.col.groups", "directory.col.load", "directory.col.state"].map(
          (key) => h("th", { scope: "col" }, t(key)),
        ),
      ),
    ),
    h(
      "tbody",
      {},
      staff.map((person) =>
        h(
          "tr",
          { "data-staff": person.staff_id },
          h("td", { "data-label": t("directory.col.name") }, link(`/staff/directory/${encodeURIComponent(person.staff_id)}`, person.name)),
          h("td", { "data-label": t("directory.col.email") }, person.email),
          h("td", { "data-label": t("directory.col.department") }, person.department || t("none")),
          h("td", { "data-label": t("directory.col.groups") }, groupNames(person.groups)),
          h("td", { "data-label": t("directory.col.load") }, t("directory.load", { open: person.open_cases, capacity: person.capacity })),
          h("td", { "data-label": t("directory.col.state") }, person.active ? t("directory.active") : h("span", { class: "muted" }, t("directory.inactive"))),
        ),
      ),
    ),
  );
}

/** The fields of a staff member, blank for a new one; values() reads them back for the API. */
function staffFields(person = {}) {
  const groupsBox = h(
    "fieldset",
    {},
    h("legend", {}, t("directory.field.groups")),
    h(
      "div",
      { class: "choices" },
      Object.entries(GROUPS).map(([group, key]) => {
        const box = input("checkbox", "groups", group, { checked: (person.groups || []).includes(group) });
        return h("label", {}, box, t(key));
      }),
    ),
  );
  const elements = [
    field(t("directory.field.name"), input("text", "name", person.name, { required: true, maxlength: "100", autocomplete: "off" })),
    field(t("directory.field.email"), input("email", "email", person.email, { required: true, autocomplete: "off" }), t("directory.field.email_hint")),
    field(t("directory.field.phone"), input("tel", "phone", person.phone, { autocomplete: "off" })),
    field(
      t("directory.field.language"),
      h("select", { name: "language" }, Object.entries(LANGUAGES).map(([code, key]) => option(code, t(key), person.language || "fr"))),
    ),
    field(t("directory.field.department"), input("text", "department", person.department, { autocomplete: "off" })),
    groupsBox,
    field(t("directory.field.capacity"), input("number", "capacity", person.capacity ?? 20, { min: "0", max: "1000", required: true })),
  ];
  return elements;
}

function staffValues(form) {
  const data = new FormData(form);
  const text = (name) => String(data.get(name) || "").trim();
  return {
    name: text("name"),
    email: text("email"),
    phone: text("phone") || null,
    language: text("language"),
    department: text("department") || null,
    groups: data.getAll("groups").map(String),
    capacity: Number(text("capacity") || 0),
  };
}

function addForm() {
  const problem = h("div", {});
  const form = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        fill(problem);
        try {
          const created = await api("POST", "/directory", { body: { ...staffValues(form), active: true } });
          notify(t("directory.added", { name: created.name }));
          navigate(`/staff/directory/${encodeURIComponent(created.staff_id)}`);
        } catch (error) {
          fill(problem, errorBox(conflictAware(error)));
        }
      },
    },
    staffFields(),
    problem,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("directory.add_submit"))),
  );
  return h("details", { class: "panel" }, h("summary", {}, t("directory.add")), form);
}

function importReport(report) {
  const accepted = report.results || [];
  const refused = report.rejected_rows || [];
  return h(
    "section",
    { class: "panel", "aria-labelledby": "import-report", id: "import-report-panel" },
    h("h2", { id: "import-report", tabindex: "-1" }, t("directory.report.title")),
    h(
      "p",
      {},
      t("directory.report.counts", {
        rows: report.rows,
        created: report.created,
        updated: report.updated,
        unchanged: report.unchanged,
        rejected: report.rejected,
      }),
    ),
    h("h3", {}, tn("directory.report.accepted", accepted.length)),
    accepted.length
      ? h(
          "table",
          { class: "list", id: "import-accepted" },
          h("thead", {}, h("tr", {}, ["directory.report.line", "directory.col.email", "directory.report.outcome"].map((key) => h("th", { scope: "col" }, t(key))))),
          h(
            "tbody",
            {},
            accepted.map((row) =>
              h(
                "tr",
                {},
                h("td", { "data-label": t("directory.report.line") }, String(row.line)),
                h("td", { "data-label": t("directory.col.email") }, link(`/staff/directory/${encodeURIComponent(row.staff_id)}`, row.email)),
                h("td", { "data-label": t("directory.report.outcome") }, OUTCOMES[row.outcome] ? t(OUTCOMES[row.outcome]) : row.outcome),
              ),
            ),
          ),
        )
      : null,
    h("h3", {}, tn("directory.report.refused", refused.length)),
    refused.length
      ? h(
          "table",
          { class: "list", id: "import-refused" },
          h("thead", {}, h("tr", {}, ["directory.report.line", "directory.col.email", "directory.report.reason"].map((key) => h("th", { scope: "col" }, t(key))))),
          h(
            "tbody",
            {},
            refused.map((row) =>
              h(
                "tr",
                {},
                h("td", { "data-label": t("directory.report.line") }, String(row.line)),
                h("td", { "data-label": t("directory.col.email") }, row.email || t("none")),
                h("td", { "data-label": t("directory.report.reason") }, (row.problems || []).map((problem) => problem.message).join("; ") || row.reason),
              ),
            ),
          ),
        )
      : null,
  );
}

function importForm() {
  const problem = h("div", {});
  const report = h("div", {});
  const file = h("input", { type: "file", name: "file", accept: ".csv,text/csv,text/plain", required: true });
  const send = h("button", { type: "submit", class: "primary" }, t("directory.import_submit"));
  const form = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        fill(problem);
        fill(report);
        const chosen = file.files && file.files[0];
        if (!chosen) {
          fill(problem, errorBox(new Error(t("directory.import_pick"))));
          return;
        }
        send.disabled = true;
        try {
          // the file's bytes as they are: the API finds the encoding and the delimiter
          const answer = await api("POST", "/directory/imports", {
            raw: await chosen.arrayBuffer(),
            contentType: "application/octet-stream",
          });
          fill(report, importReport(answer));
          notify(t("directory.imported", { created: answer.created, updated: answer.updated, rejected: answer.rejected }));
          report.querySelector("h2").focus();
        } catch (error) {
          fill(problem, errorBox(error));
        } finally {
          send.disabled = false;
        }
      },
    },
    field(t("directory.import_file"), file, t("directory.import_hint")),
    problem,
    h("div", { class: "actions" }, send),
  );
  return h("section", { class: "panel", "aria-labelledby": "directory-import" }, h("h2", { id: "directory-import" }, t("directory.import")), form, report);
}

async function renderList(main, query) {
  const chosen = {};
  for (const name of ["active", "group", "department"]) if (query[name]) chosen[name] = query[name];
  const { staff } = await api("GET", "/directory", { query: chosen });
  fill(
    main,
    heading(t("directory.title")),
    filtersForm(query),
    h("p", { class: "muted" }, tn("directory.count", staff.length)),
    staff.length ? staffTable(staff) : h("p", { class: "notice" }, t("directory.empty")),
    is("admin") ? [h("h2", {}, t("directory.admin")), addForm(), importForm()] : null,
  );
}

// ------------------------------------------------------------------ a person

function facts(person) {
  const pairs = [
    ["directory.field.email", person.email],
    ["directory.field.phone", person.phone || t("none")],
    ["directory.field.language", LANGUAGES[person.language] ? t(LANGUAGES[person.language]) : person.language],
    ["directory.field.department", person.department || t("none")],
    ["directory.field.groups", groupNames(person.groups)],
    ["directory.col.load", t("directory.load", { open: person.open_cases, capacity: person.capacity })],
    ["directory.col.state", person.active ? t("directory.active") : t("directory.inactive")],
    ["directory.signed_up", person.signed_up ? t("yes") : t("no")],
  ];
  return h("dl", { class: "facts" }, pairs.map(([key, value]) => [h("dt", {}, t(key)), h("dd", {}, value)]));
}

function editForm(person, rerender) {
  const problem = h("div", {});
  const form = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        fill(problem);
        try {
          await api("PATCH", `/directory/${encodeURIComponent(person.staff_id)}`, { body: { ...staffValues(form), version: person.version } });
          notify(t("directory.saved", { name: person.name }));
          await rerender({ focus: false });
        } catch (error) {
          fill(problem, errorBox(conflictAware(error)));
        }
      },
    },
    staffFields(person),
    problem,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("save"))),
  );
  return h("section", { class: "panel", "aria-labelledby": "directory-edit" }, h("h2", { id: "directory-edit" }, t("directory.edit")), form);
}

function activeControl(person, rerender) {
  const problem = h("div", {});
  return h(
    "section",
    { class: "panel", "aria-labelledby": "directory-state" },
    h("h2", { id: "directory-state" }, person.active ? t("directory.deactivate_title") : t("directory.reactivate_title")),
    h("p", { class: "hint" }, person.active ? t("directory.deactivate_hint") : t("directory.reactivate_hint")),
    problem,
    h(
      "button",
      {
        type: "button",
        class: person.active ? "danger" : "primary",
        onclick: async () => {
          fill(problem);
          try {
            await api("PATCH", `/directory/${encodeURIComponent(person.staff_id)}`, { body: { active: !person.active, version: person.version } });
            notify(person.active ? t("directory.deactivated", { name: person.name }) : t("directory.reactivated", { name: person.name }));
            await rerender({ focus: false });
          } catch (error) {
            fill(problem, errorBox(conflictAware(error)));
          }
        },
      },
      person.active ? t("directory.deactivate") : t("directory.reactivate"),
    ),
  );
}

async function renderPerson(main, staffId, rerender) {
  const person = await api("GET", `/directory/${encodeURIComponent(staffId)}`);
  fill(
    main,
    h("p", {}, link("/staff/directory", t("directory.back"))),
    heading(person.name),
    h(
      "section",
      { class: "panel" },
      facts(person),
      h("p", {}, link(`/staff/cases?assignee=${encodeURIComponent(person.staff_id)}`, t("directory.their_cases", { count: person.open_cases }))),
    ),
    is("admin") ? [editForm(person, rerender), activeControl(person, rerender)] : null,
  );
}

export async function render({ main, params, query, rerender }) {
  if (params.id) await renderPerson(main, params.id, rerender);
  else await renderList(main, query);
}
