// The irritant taxonomy (managers): every tag with its labels in French and English, the department
// that owns it and whether it is offered; add a tag, edit it, deactivate or reactivate it (PATCH,
// version-checked). A tag is never deleted: attempts keep pointing at it.
import { api, errorBox, field, fill, h, heading, notify, t } from "./core.js";

function textInput(name, value, attributes = {}) {
  return h("input", { type: "text", name, value: value || "", autocomplete: "off", ...attributes });
}

function conflictAware(error) {
  return error.status === 409 ? new Error(`${t("taxonomy.conflict")} (${error.message})`) : error;
}

function addForm(rerender) {
  const problem = h("div", {});
  const form = h(
    "form",
    {
      class: "panel",
      "aria-labelledby": "taxonomy-add",
      onsubmit: async (event) => {
        event.preventDefault();
        const data = new FormData(form);
        fill(problem);
        try {
          const added = await api("POST", "/taxonomy", {
            body: {
              tag: String(data.get("tag")).trim(),
              label_fr: String(data.get("label_fr")).trim(),
              label_en: String(data.get("label_en")).trim(),
              department: String(data.get("department")).trim() || null,
            },
          });
          notify(t("taxonomy.added", { tag: added.tag }));
          await rerender({ focus: false });
        } catch (error) {
          fill(problem, errorBox(conflictAware(error)));
        }
      },
    },
    h("h2", { id: "taxonomy-add" }, t("taxonomy.add")),
    field(t("taxonomy.field.tag"), textInput("tag", "", { required: true, pattern: "[a-z0-9_\\-]{1,40}", maxlength: "40" }), t("taxonomy.field.tag_hint")),
    field(t("taxonomy.field.label_fr"), textInput("label_fr", "", { required: true, maxlength: "80", lang: "fr" })),
    field(t("taxonomy.field.label_en"), textInput("label_en", "", { required: true, maxlength: "80", lang: "en" })),
    field(t("taxonomy.field.department"), textInput("department", "", { pattern: "[a-z0-9_\\-]{1,40}", maxlength: "40" }), t("taxonomy.field.department_hint")),
    problem,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("taxonomy.add_submit"))),
  );
  return form;
}

function editForm(tag, editor, rerender) {
  const problem = h("div", {});
  const form = h(
    "form",
    {
      class: "panel",
      "aria-labelledby": "taxonomy-edit",
      onsubmit: async (event) => {
        event.preventDefault();
        const data = new FormData(form);
        fill(problem);
        try {
          await api("PATCH", `/taxonomy/${encodeURIComponent(tag.tag)}`, {
            body: {
              version: tag.version,
              label_fr: String(data.get("label_fr")).trim(),
              label_en: String(data.get("label_en")).trim(),
              department: String(data.get("department")).trim(),
            },
          });
          notify(t("taxonomy.saved", { tag: tag.tag }));
          await rerender({ focus: false });
        } catch (error) {
          fill(problem, errorBox(conflictAware(error)));
        }
      },
    },
    h("h2", { id: "taxonomy-edit" }, t("taxonomy.edit_title", { tag: tag.tag })),
    field(t("taxonomy.field.label_fr"), textInput("label_fr", tag.label_fr, { required: true, maxlength: "80", lang: "fr" })),
    field(t("taxonomy.field.label_en"), textInput("label_en", tag.label_en, { required: true, maxlength: "80", lang: "en" })),
    field(t("taxonomy.field.department"), textInput("department", tag.department, { pattern: "[a-z0-9_\\-]{1,40}", maxlength: "40" }), t("taxonomy.field.department_hint")),
    problem,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "primary" }, t("save")),
      h("button", { type: "button", onclick: () => fill(editor) }, t("cancel")),
    ),
  );
  return form;
}

async function setActive(tag, active, problem, rerender) {
  fill(problem);
  try {
    await api("PATCH", `/taxonomy/${encodeURIComponent(tag.tag)}`, { body: { version: tag.version, active } });
    notify(active ? t("taxonomy.reactivated", { tag: tag.tag }) : t("taxonomy.deactivated", { tag: tag.tag }));
    await rerender({ focus: false });
  } catch (error) {
    fill(problem, errorBox(conflictAware(error)));
  }
}

export async function render({ main, rerender }) {
  const { tags } = await api("GET", "/taxonomy");
  const editor = h("div", { id: "taxonomy-editor" });
  const problem = h("div", {});
  const rows = tags.map((tag) =>
    h(
      "tr",
      { "data-tag": tag.tag, class: tag.active ? "" : "muted" },
      h("td", { "data-label": t("taxonomy.col.tag") }, h("code", {}, tag.tag)),
      h("td", { "data-label": t("taxonomy.col.label_fr"), lang: "fr" }, tag.label_fr),
      h("td", { "data-label": t("taxonomy.col.label_en"), lang: "en" }, tag.label_en),
      h("td", { "data-label": t("taxonomy.col.department") }, tag.department || t("none")),
      h("td", { "data-label": t("taxonomy.col.state") }, tag.active ? t("taxonomy.active") : t("taxonomy.inactive")),
      h(
        "td",
        { "data-label": t("taxonomy.col.actions") },
        h(
          "div",
          { class: "actions" },
          h(
            "button",
            {
              type: "button",
              "aria-label": t("taxonomy.edit_named", { tag: tag.tag }),
              onclick: () => {
                fill(editor, editForm(tag, editor, rerender));
                editor.querySelector("input").focus();
              },
            },
            t("taxonomy.edit"),
          ),
          h(
            "button",
            {
              type: "button",
              class: tag.active ? "danger" : "",
              "aria-label": tag.active ? t("taxonomy.deactivate_named", { tag: tag.tag }) : t("taxonomy.reactivate_named", { tag: tag.tag }),
              onclick: () => setActive(tag, !tag.active, problem, rerender),
            },
            tag.active ? t("taxonomy.deactivate") : t("taxonomy.reactivate"),
          ),
        ),
      ),
    ),
  );
  fill(
    main,
    heading(t("taxonomy.title")),
    h("p", { class: "muted" }, t("taxonomy.intro")),
    problem,
    editor,
    tags.length
      ? h(
          "table",
          { class: "list" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              [
                "taxonomy.col.tag",
                "taxonomy.col.label_fr",
                "taxonomy.col.label_en",
                "taxonomy.col.department",
                "taxonomy.col.state",
                "taxonomy.col.actions",
              ].map((key) => h("th", { scope: "col" }, t(key))),
            ),
          ),
          h("tbody", {}, rows),
        )
      : h("p", { class: "notice" }, t("taxonomy.empty")),
    addForm(rerender),
  );
}
