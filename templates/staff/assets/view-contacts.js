// Contacts (managers): search, a contact's page with its edit form, and CSV imports with their report.
//   /staff/contacts            search (q, segment, language, owner, cursor in the query), import, past imports
//   /staff/contacts/<id>       the contact, and its edit form (version-checked, kept as a draft)
//   /staff/imports/<id>        an import's progress and report (polls until it is over)
import {
  ApiError,
  api,
  bindDraft,
  clearDraft,
  errorBox,
  field,
  fill,
  formatDateTime,
  h,
  loadDraft,
  saveDraft,
  heading,
  link,
  navigate,
  notify,
  t,
} from "./core.js";

const LANGUAGE_NAMES = { fr: "contacts.language.fr", en: "contacts.language.en" };
const IMPORT_STATUS = {
  waiting: "import.status.waiting",
  running: "import.status.running",
  done: "import.status.done",
  failed: "import.status.failed",
};
const SUPPRESSION = {
  unsubscribe: "contact.suppression.unsubscribe",
  bounce: "contact.suppression.bounce",
  complaint: "contact.suppression.complaint",
  manual: "contact.suppression.manual",
  mail: "contact.suppression.mail",
};
const COUNTS = [
  ["rows", "import.count.rows"],
  ["created", "import.count.created"],
  ["updated", "import.count.updated"],
  ["unchanged", "import.count.unchanged"],
  ["rejected", "import.count.rejected"],
  ["suppressed", "import.count.suppressed"],
];
const POLL_MS = 1000;

export async function render({ main, params, query, path }) {
  if (path.startsWith("/staff/imports/")) return renderImport(main, params.id);
  if (params.id) return renderContact(main, params.id);
  return renderSearch(main, query);
}

// ------------------------------------------------------------------ helpers
function languageName(code) {
  return LANGUAGE_NAMES[code] ? t(LANGUAGE_NAMES[code]) : code || t("none");
}

function fullName(contact) {
  return [contact.first_name, contact.last_name].filter(Boolean).join(" ");
}

function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.filter(Boolean).map(([term, value]) => [h("dt", {}, term), h("dd", {}, value === null || value === undefined || value === "" ? t("none") : value)]),
  );
}

function cell(label, ...children) {
  return h("td", { "data-label": label }, children);
}

function statusText(status) {
  return IMPORT_STATUS[status] ? t(IMPORT_STATUS[status]) : status;
}

// ------------------------------------------------------------------ search and import
async function renderSearch(main, query) {
  const filters = { q: query.q || "", segment: query.segment || "", language: query.language || "", owner: query.owner || "" };
  const results = h("div", { class: "contacts-results" }, h("p", { class: "muted" }, t("loading")));
  const imports = h("div", { class: "contacts-imports" }, h("p", { class: "muted" }, t("loading")));
  fill(
    main,
    heading(t("contacts.title")),
    h("section", { class: "panel", "aria-labelledby": "contacts-search-title" }, h("h2", { id: "contacts-search-title" }, t("contacts.search.title")), searchForm(filters), results),
    h("section", { class: "panel", "aria-labelledby": "contacts-import-title" }, h("h2", { id: "contacts-import-title" }, t("import.title")), importForm()),
    h("section", { class: "panel", "aria-labelledby": "contacts-imports-title" }, h("h2", { id: "contacts-imports-title" }, t("import.past")), imports),
  );
  await Promise.all([showResults(results, filters, query.cursor), showImports(imports)]);
}

function searchForm(filters) {
  const q = h("input", { type: "search", name: "q", value: filters.q, autocomplete: "off", maxlength: "320" });
  const segment = h("input", { type: "text", name: "segment", value: filters.segment, maxlength: "80" });
  const language = h(
    "select",
    { name: "language" },
    h("option", { value: "" }, t("contacts.any")),
    ["fr", "en"].map((code) => h("option", { value: code, selected: filters.language === code }, languageName(code))),
  );
  const owner = h("input", { type: "email", name: "owner", value: filters.owner, maxlength: "320", autocomplete: "off" });
  const form = h(
    "form",
    {
      role: "search",
      onsubmit: (event) => {
        event.preventDefault();
        const wanted = new URLSearchParams();
        for (const [name, control] of Object.entries({ q, segment, language, owner })) {
          if (control.value.trim()) wanted.set(name, control.value.trim());
        }
        const text = wanted.toString();
        navigate(`/staff/contacts${text ? `?${text}` : ""}`);
      },
    },
    field(t("contacts.search.q"), q, t("contacts.search.q_hint")),
    h("div", { class: "filters" }, field(t("contacts.search.segment"), segment), field(t("contacts.search.language"), language), field(t("contacts.search.owner"), owner)),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, t("contacts.search.submit")),
      filters.q || filters.segment || filters.language || filters.owner ? link("/staff/contacts", t("contacts.search.reset")) : null,
    ),
  );
  return form;
}

async function showResults(container, filters, cursor) {
  let page;
  try {
    page = await api("GET", "/contacts", { query: { ...filters, cursor, limit: 25 } });
  } catch (error) {
    fill(container, errorBox(error));
    return;
  }
  if (!page.contacts.length) {
    fill(container, h("h3", {}, t("contacts.results")), h("p", {}, t("contacts.empty")), cursor ? h("p", {}, link(pageUrl(filters), t("contacts.first_page"))) : null);
    return;
  }
  const rows = page.contacts.map((contact) =>
    h(
      "tr",
      {},
      cell(t("contacts.col.name"), link(`/staff/contacts/${encodeURIComponent(contact.contact_id)}`, fullName(contact) || t("contacts.no_name"))),
      cell(t("contacts.col.email"), contact.email || t("none")),
      cell(t("contacts.col.company"), contact.company || t("none")),
      cell(t("contacts.col.segment"), contact.segment || t("none")),
      cell(t("contacts.col.language"), languageName(contact.language)),
      cell(t("contacts.col.state"), contact.suppressed ? h("span", { class: "late" }, t("contacts.state.suppressed")) : t("contacts.state.ok")),
    ),
  );
  fill(
    container,
    h("h3", {}, t("contacts.results")),
    h(
      "table",
      { class: "list" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["contacts.col.name", "contacts.col.email", "contacts.col.company", "contacts.col.segment", "contacts.col.language", "contacts.col.state"].map((key) =>
            h("th", { scope: "col" }, t(key)),
          ),
        ),
      ),
      h("tbody", {}, rows),
    ),
    h(
      "p",
      { class: "actions" },
      cursor ? link(pageUrl(filters), t("contacts.first_page")) : null,
      page.next_cursor ? link(pageUrl(filters, page.next_cursor), t("contacts.next_page")) : null,
    ),
  );
}

function pageUrl(filters, cursor) {
  const wanted = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value) wanted.set(name, value);
  if (cursor) wanted.set("cursor", cursor);
  const text = wanted.toString();
  return `/staff/contacts${text ? `?${text}` : ""}`;
}

function importForm() {
  const file = h("input", { type: "file", name: "file", accept: ".csv,text/csv,application/vnd.ms-excel", required: true });
  const problems = h("div", {});
  const button = h("button", { type: "submit", class: "primary" }, t("import.submit"));
  const form = h(
    "form",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        fill(problems);
        const chosen = file.files && file.files[0];
        if (!chosen) {
          fill(problems, errorBox(new Error(t("import.choose_file"))));
          file.focus();
          return;
        }
        button.disabled = true;
        notify(t("import.uploading"));
        try {
          const started = await api("POST", "/imports");
          await upload(started.upload, chosen);
          navigate(`/staff/imports/${encodeURIComponent(started.import_id)}`);
        } catch (error) {
          fill(problems, errorBox(error));
          button.disabled = false;
        }
      },
    },
    field(t("import.file"), file, t("import.file_hint")),
    problems,
    h("div", { class: "actions" }, button),
  );
  return form;
}

/** PUT the file to the presigned URL the API gave (the uploads bucket, another origin). */
async function upload(target, file) {
  let response;
  try {
    response = await fetch(target.url, { method: target.method || "PUT", body: file, headers: { "Content-Type": "text/csv" } });
  } catch (_) {
    throw new ApiError(0, t("error.network"), null);
  }
  if (!response.ok) throw new ApiError(response.status, t("import.upload_failed", { status: response.status }), null);
}

async function showImports(container, cursor) {
  let page;
  try {
    page = await api("GET", "/imports", { query: { cursor } });
  } catch (error) {
    fill(container, errorBox(error));
    return;
  }
  if (!page.imports.length && !cursor) {
    fill(container, h("p", {}, t("import.none")));
    return;
  }
  const rows = page.imports.map((item) =>
    h(
      "tr",
      {},
      cell(t("import.col.date"), formatDateTime(item.created_at)),
      cell(t("import.col.by"), item.uploaded_by || t("none")),
      cell(t("import.col.status"), statusText(item.status)),
      cell(t("import.col.counts"), t("import.counts_short", item.counts)),
      cell(t("import.col.report"), link(`/staff/imports/${encodeURIComponent(item.import_id)}`, t("import.open_report"))),
    ),
  );
  const table = h(
    "table",
    { class: "list" },
    h("thead", {}, h("tr", {}, ["import.col.date", "import.col.by", "import.col.status", "import.col.counts", "import.col.report"].map((key) => h("th", { scope: "col" }, t(key))))),
    h("tbody", {}, rows),
  );
  const more = page.next_cursor
    ? h("button", { type: "button", onclick: () => showImports(container, page.next_cursor) }, t("import.more"))
    : null;
  fill(container, table, more ? h("div", { class: "actions" }, more) : null);
}

// ------------------------------------------------------------------ an import's report
async function renderImport(main, importId) {
  const report = await api("GET", `/imports/${encodeURIComponent(importId)}`);
  const body = h("div", { class: "import-report" });
  fill(main, h("p", {}, link("/staff/contacts", t("import.back"))), heading(t("import.report")), body);
  showReport(body, report);
  if (report.status === "waiting" || report.status === "running") poll(body, importId);
}

function poll(body, importId) {
  const here = location.pathname;
  const again = async () => {
    if (!body.isConnected || location.pathname !== here) return;
    let report;
    try {
      report = await api("GET", `/imports/${encodeURIComponent(importId)}`);
    } catch (error) {
      if (body.isConnected) fill(body, errorBox(error));
      return;
    }
    if (!body.isConnected || location.pathname !== here) return;
    showReport(body, report);
    if (report.status === "waiting" || report.status === "running") window.setTimeout(again, POLL_MS);
    else notify(t("import.over"));
  };
  window.setTimeout(again, POLL_MS);
}

function showReport(body, report) {
  const going = report.status === "waiting" || report.status === "running";
  const progress = report.progress && report.progress.size ? Math.min(100, Math.round((100 * report.progress.bytes_read) / report.progress.size)) : null;
  const ignored = (report.file && report.file.ignored_columns) || [];
  const columns = (report.file && report.file.columns) || [];
  const rejected = h("div", {});
  fill(
    body,
    facts([
      [t("import.status"), h("span", { class: report.status === "failed" ? "late" : null, "data-status": report.status }, statusText(report.status))],
      going && progress !== null ? [t("import.progress", { percent: progress }), h("progress", { max: "100", value: String(progress), "aria-label": t("import.progress", { percent: progress }) })] : null,
      [t("import.uploaded_by"), report.uploaded_by],
      [t("import.started"), formatDateTime(report.started_at || report.created_at)],
      report.finished_at ? [t("import.finished"), formatDateTime(report.finished_at)] : null,
    ]),
    going ? h("p", { class: "notice" }, t("import.still_running")) : null,
    report.error ? h("div", { class: "error", role: "alert" }, t("import.failed_reason", { reason: report.error.message })) : null,
    h("h2", {}, t("import.counts")),
    facts(COUNTS.map(([name, key]) => [t(key), String((report.counts || {})[name] || 0)])),
    report.file && report.file.encoding
      ? [
          h("h2", {}, t("import.file_facts")),
          facts([
            [t("import.encoding"), report.file.encoding],
            [t("import.separator"), report.file.separator],
            [t("import.columns"), columns.join(", ")],
            ignored.length ? [t("import.ignored_columns"), ignored.join(", ")] : null,
          ]),
        ]
      : null,
    h("h2", {}, t("import.rejected")),
    rejected,
  );
  showRejected(rejected, report);
}

function showRejected(container, report) {
  if (!report.rejected_rows.length) {
    fill(container, h("p", {}, report.status === "done" ? t("import.rejected_none") : t("none")));
    return;
  }
  const tbody = h("tbody", {});
  const addRows = (rows) => {
    for (const row of rows) {
      tbody.appendChild(
        h(
          "tr",
          {},
          cell(t("import.col.line"), String(row.line)),
          cell(t("import.col.column"), row.column || t("none")),
          cell(t("import.col.reason"), row.message),
          cell(t("import.col.email"), row.email || t("none")),
        ),
      );
    }
  };
  addRows(report.rejected_rows);
  const more = h("div", { class: "actions" });
  const showMore = (cursor) => {
    fill(more);
    if (!cursor) return;
    more.appendChild(
      h(
        "button",
        {
          type: "button",
          onclick: async () => {
            try {
              const next = await api("GET", `/imports/${encodeURIComponent(report.import_id)}`, { query: { cursor } });
              addRows(next.rejected_rows);
              showMore(next.next_cursor);
            } catch (error) {
              fill(more, errorBox(error));
            }
          },
        },
        t("import.more_rows"),
      ),
    );
  };
  showMore(report.next_cursor);
  fill(
    container,
    h(
      "table",
      { class: "list" },
      h("thead", {}, h("tr", {}, ["import.col.line", "import.col.column", "import.col.reason", "import.col.email"].map((key) => h("th", { scope: "col" }, t(key))))),
      tbody,
    ),
    more,
  );
}

// ------------------------------------------------------------------ a contact
const FIELDS = [
  ["email", "contact.email", "email", true],
  ["first_name", "contact.first_name", "text", false],
  ["last_name", "contact.last_name", "text", false],
  ["phone", "contact.phone", "tel", false],
  ["company", "contact.company", "text", false],
  ["segment", "contact.segment", "text", true],
  ["language", "contact.language", "select", true],
  ["account_owner", "contact.account_owner", "email", false],
  ["weight", "contact.weight", "text", true],
];

function stateText(contact) {
  if (!contact.suppressed) return t("contact.state.ok");
  return SUPPRESSION[contact.suppression_reason] ? t(SUPPRESSION[contact.suppression_reason]) : t("contact.state.suppressed");
}

async function renderContact(main, contactId) {
  const contact = await api("GET", `/contacts/${encodeURIComponent(contactId)}`);
  const name = fullName(contact) || contact.email || t("contacts.no_name");
  fill(
    main,
    h("p", {}, link("/staff/contacts", t("contact.back"))),
    heading(name),
    h(
      "div",
      { class: "columns" },
      h(
        "section",
        { class: "panel", "aria-labelledby": "contact-facts-title" },
        h("h2", { id: "contact-facts-title" }, t("contact.facts")),
        facts([
          [t("contact.email"), contact.email],
          [t("contact.first_name"), contact.first_name],
          [t("contact.last_name"), contact.last_name],
          [t("contact.phone"), contact.phone ? h("a", { href: `tel:${contact.phone}` }, contact.phone) : null],
          [t("contact.company"), contact.company],
          [t("contact.segment"), contact.segment],
          [t("contact.language"), languageName(contact.language)],
          [t("contact.account_owner"), contact.account_owner],
          [t("contact.weight"), String(contact.weight)],
          [t("contact.state"), h("span", { class: contact.suppressed ? "late" : null }, stateText(contact))],
          [t("contact.last_survey"), contact.last_survey ? formatDateTime(contact.last_survey.at) : t("contact.never_surveyed")],
          [t("contact.created"), formatDateTime(contact.created_at)],
          [t("contact.updated"), formatDateTime(contact.updated_at)],
          contact.import_id ? [t("contact.import"), link(`/staff/imports/${encodeURIComponent(contact.import_id)}`, t("import.open_report"))] : null,
        ]),
      ),
      h("section", { class: "panel", "aria-labelledby": "contact-edit-title" }, h("h2", { id: "contact-edit-title" }, t("contact.edit")), editForm(main, contact)),
    ),
  );
}

function editForm(main, contact) {
  const draftKey = `contact:${contact.contact_id}`;
  const controls = {};
  const errors = {};
  const rows = FIELDS.map(([name, key, type, required]) => {
    let control;
    if (type === "select") {
      control = h(
        "select",
        { name },
        ["fr", "en"].map((code) => h("option", { value: code, selected: contact.language === code }, languageName(code))),
      );
    } else {
      control = h("input", {
        type,
        name,
        value: contact[name] === null || contact[name] === undefined ? "" : String(contact[name]),
        required,
        autocomplete: "off",
        inputmode: name === "weight" ? "decimal" : null,
      });
    }
    controls[name] = control;
    const hint = name === "account_owner" ? t("contact.account_owner_hint") : name === "weight" ? t("contact.weight_hint") : null;
    const wrapper = field(t(key), control, hint);
    errors[name] = h("p", { class: "field-error", id: `contact-${name}-error`, hidden: true });
    wrapper.appendChild(errors[name]);
    return wrapper;
  });
  const status = h("div", {});
  const save = h("button", { type: "submit", class: "primary" }, t("save"));
  const original = (name) => (contact[name] === null || contact[name] === undefined ? "" : String(contact[name]));
  const clearErrors = () => {
    for (const [name, element] of Object.entries(errors)) {
      element.hidden = true;
      element.textContent = "";
      controls[name].removeAttribute("aria-invalid");
      const described = (controls[name].getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== element.id);
      if (described.length) controls[name].setAttribute("aria-describedby", described.join(" "));
      else controls[name].removeAttribute("aria-describedby");
    }
  };
  const form = h(
    "form",
    {
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        clearErrors();
        fill(status);
        const changes = { version: contact.version };
        for (const [name, , , required] of FIELDS) {
          const value = controls[name].value.trim();
          if (value === original(name)) continue;
          changes[name] = value === "" && !required ? null : value;
        }
        if (Object.keys(changes).length === 1) {
          forget();
          notify(t("contact.nothing_changed"));
          return;
        }
        save.disabled = true;
        try {
          await api("PATCH", `/contacts/${encodeURIComponent(contact.contact_id)}`, { body: changes });
          forget();
          await renderContact(main, contact.contact_id);
          notify(t("contact.saved"));
          const title = document.getElementById("page-title");
          if (title) title.focus();
        } catch (error) {
          save.disabled = false;
          showError(error);
        }
      },
    },
    rows,
    status,
    h("div", { class: "actions" }, save),
  );
  const showError = (error) => {
    if (error instanceof ApiError && error.status === 409 && error.body && error.body.details && "version" in error.body.details) {
      fill(
        status,
        h("div", { class: "error", role: "alert" }, t("contact.conflict")),
        h("div", { class: "actions" }, h("button", { type: "button", onclick: () => renderContact(main, contact.contact_id) }, t("contact.reload"))),
      );
      return;
    }
    const details = error instanceof ApiError && error.body && Array.isArray(error.body.details) ? error.body.details : [];
    let first = null;
    for (const detail of details) {
      const name = String(detail.where || "").replace(/^body\./, "");
      if (!errors[name]) continue;
      errors[name].textContent = detail.problem || error.message;
      errors[name].hidden = false;
      controls[name].setAttribute("aria-invalid", "true");
      const described = (controls[name].getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      if (!described.includes(errors[name].id)) described.push(errors[name].id);
      controls[name].setAttribute("aria-describedby", described.join(" "));
      first = first || controls[name];
    }
    fill(status, errorBox(error));
    if (first) first.focus();
  };
  // The draft keeps what was typed; its base (the contact as it was read) tells which fields the
  // person changed, so that a reload after someone else's change keeps theirs and re-applies only ours.
  const baseKey = `contact-base:${contact.contact_id}`;
  const originals = Object.fromEntries(FIELDS.map(([name]) => [name, original(name)]));
  form.addEventListener("input", () => {
    if (!loadDraft(baseKey)) saveDraft(baseKey, originals);
  });
  const forget = () => {
    clearDraft(draftKey);
    clearDraft(baseKey);
  };
  let restored = bindDraft(form, draftKey);
  if (restored) {
    const base = loadDraft(baseKey) || originals;
    const typed = loadDraft(draftKey) || {};
    for (const [name] of FIELDS) {
      if (!(name in typed) || typed[name] === base[name]) controls[name].value = originals[name];
    }
    restored = FIELDS.some(([name]) => controls[name].value.trim() !== originals[name]);
    if (!restored) forget();
  }
  if (restored) {
    status.appendChild(
      h(
        "p",
        { class: "notice" },
        t("contact.draft_restored"),
        " ",
        h(
          "button",
          {
            type: "button",
            class: "link",
            onclick: () => {
              forget();
              renderContact(main, contact.contact_id);
            },
          },
          t("contact.discard"),
        ),
      ),
    );
  }
  return form;
}
