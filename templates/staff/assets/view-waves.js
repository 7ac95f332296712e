// Waves: the list, a new wave, and a wave's page (its plan, its email previewed in French and
// English, a test send, rescheduling, cancelling, and its counts as it goes).
import {
  api,
  bindDraft,
  clearDraft,
  errorBox,
  field,
  fill,
  formatDateTime,
  h,
  heading,
  lang,
  link,
  navigate,
  newKey,
  notify,
  setServerNow,
  t,
  whoami,
} from "./core.js";

const STATUS = {
  planned: () => t("waves.status.planned"),
  sending: () => t("waves.status.sending"),
  sent: () => t("waves.status.sent"),
  closed: () => t("waves.status.closed"),
  cancelled: () => t("waves.status.cancelled"),
};

const LANGUAGE_NAMES = {
  fr: () => t("waves.language.fr"),
  en: () => t("waves.language.en"),
};

const SKIPPED = {
  suppressed: () => t("waves.count.skipped_suppressed"),
  pressure_gap: () => t("waves.count.skipped_pressure_gap"),
  pressure_max: () => t("waves.count.skipped_pressure_max"),
};

function statusText(code) {
  return STATUS[code] ? STATUS[code]() : t("waves.status.unknown");
}

function languageName(code) {
  return LANGUAGE_NAMES[code] ? LANGUAGE_NAMES[code]() : code;
}

export async function render({ main, params, query, rerender }) {
  if (!params.id) return listPage(main);
  if (params.id === "new") return createPage(main);
  return wavePage(main, params.id, query, rerender);
}

// ------------------------------------------------------------------ times in Paris

const ZONE = "Europe/Paris";

/** Minutes east of UTC that Paris is at this instant. */
function parisOffset(date) {
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone: ZONE, timeZoneName: "longOffset" }).formatToParts(date);
  const name = (parts.find((part) => part.type === "timeZoneName") || {}).value || "GMT";
  const found = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
  return found ? (found[1] === "+" ? 1 : -1) * (Number(found[2]) * 60 + Number(found[3])) : 0;
}

function pad(number) {
  return String(number).padStart(2, "0");
}

/** A datetime-local value read as Paris wall time, as ISO with its offset: "2027-03-02T09:00:00+01:00". */
export function parisToIso(local) {
  if (!local) return null;
  const withSeconds = local.length === 16 ? `${local}:00` : local.slice(0, 19);
  const asUtc = Date.parse(`${withSeconds}Z`);
  if (Number.isNaN(asUtc)) return null;
  let offset = parisOffset(new Date(asUtc));
  offset = parisOffset(new Date(asUtc - offset * 60_000));
  const sign = offset >= 0 ? "+" : "-";
  const size = Math.abs(offset);
  return `${withSeconds}${sign}${pad(Math.floor(size / 60))}:${pad(size % 60)}`;
}

/** An ISO time as a datetime-local value in Paris wall time. */
function isoToParis(iso) {
  if (!iso) return "";
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone: ZONE,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    })
      .formatToParts(new Date(iso))
      .map((part) => [part.type, part.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

function reminderDays(wave) {
  return Math.round((Date.parse(wave.reminder_at) - Date.parse(wave.starts_at)) / 86_400_000);
}

// ------------------------------------------------------------------ shared pieces

function targetSummary(target) {
  if (!target || target.everyone) return t("waves.target.everyone");
  const parts = [];
  if (target.segments && target.segments.length) parts.push(t("waves.target.segments", { segments: target.segments.join(", ") }));
  if (target.languages && target.languages.length) {
    parts.push(t("waves.target.languages", { languages: target.languages.map(languageName).join(", ") }));
  }
  return parts.join(" · ");
}

function invited(counts) {
  return counts.reserved;
}

function participation(counts) {
  if (!counts.delivered) return t("waves.participation.none");
  const rate = counts.responded / counts.delivered;
  return new Intl.NumberFormat(lang() === "fr" ? "fr-FR" : "en-GB", { style: "percent", maximumFractionDigits: 1 }).format(rate);
}

function number(value) {
  return new Intl.NumberFormat(lang() === "fr" ? "fr-FR" : "en-GB").format(value || 0);
}

function buttonLink(path, text, className) {
  const anchor = link(path, text);
  anchor.className = className;
  return anchor;
}

/** The field a 400 names: a domain error's details.field, or the first validation error's place. */
function fieldOfError(error) {
  const details = error && error.body && error.body.details;
  if (!details) return null;
  if (!Array.isArray(details)) return details.field || null;
  const where = details.length ? String(details[0].where || "") : "";
  return where.replace(/^body\.?/, "").replace(/\.\d+$/, "") || null;
}

/** Show an API error at the top of a form and under the field it names (FIELDS: API name -> control). */
function showErrors(box, error, controls) {
  for (const old of box.form.querySelectorAll(".field-error")) old.remove();
  for (const control of box.form.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
    const described = (control.getAttribute("aria-describedby") || "").split(" ").filter((id) => !id.endsWith("-error"));
    if (described.length) control.setAttribute("aria-describedby", described.join(" "));
    else control.removeAttribute("aria-describedby");
  }
  fill(box.summary, errorBox(error));
  const name = fieldOfError(error);
  let control = name ? controls[name] : null;
  if (!control && name && name.startsWith("target")) control = controls.target;
  if (!control) return;
  const errorId = `${control.id}-error`;
  const message = h("p", { class: "error field-error", id: errorId }, error.message);
  control.setAttribute("aria-invalid", "true");
  control.setAttribute("aria-describedby", `${control.getAttribute("aria-describedby") || ""} ${errorId}`.trim());
  const holder = control.closest(".field") || control.closest("fieldset") || control.parentElement;
  holder.appendChild(message);
  control.focus();
}

// ------------------------------------------------------------------ the list

async function listPage(main) {
  const answer = await api("GET", "/waves");
  if (answer.as_of) setServerNow(answer.as_of);
  const waves = answer.waves || [];
  const headers = [
    t("waves.col.name"),
    t("waves.col.status"),
    t("waves.col.starts"),
    t("waves.col.reminder"),
    t("waves.col.closes"),
    t("waves.col.target"),
    t("waves.col.invited"),
    t("waves.col.sent"),
    t("waves.col.delivered"),
    t("waves.col.bounced"),
    t("waves.col.responded"),
    t("waves.col.participation"),
  ];
  const rows = waves.map((wave) => {
    const counts = wave.counts || {};
    const cells = [
      link(`/staff/waves/${encodeURIComponent(wave.wave_id)}`, wave.name),
      h("span", { class: `badge wave-${wave.status}` }, statusText(wave.status)),
      formatDateTime(wave.starts_at),
      formatDateTime(wave.reminder_at),
      formatDateTime(wave.closes_at),
      targetSummary(wave.target),
      number(invited(counts)),
      number(counts.sent),
      number(counts.delivered),
      number(counts.bounced),
      number(counts.responded),
      participation(counts),
    ];
    return h(
      "tr",
      {},
      cells.map((cell, index) => h("td", { "data-label": headers[index] }, cell)),
    );
  });
  fill(
    main,
    heading(t("waves.title")),
    h("p", { class: "actions" }, buttonLink("/staff/waves/new", t("waves.new"), "button primary")),
    waves.length
      ? h(
          "table",
          { class: "list waves" },
          h("caption", { class: "muted" }, t("waves.list.caption")),
          h("thead", {}, h("tr", {}, headers.map((text) => h("th", { scope: "col" }, text)))),
          h("tbody", {}, rows),
        )
      : h("p", { class: "muted" }, t("waves.empty")),
  );
}

// ------------------------------------------------------------------ a new wave

function timeFields(values) {
  const startsAt = h("input", { type: "datetime-local", name: "starts_at", value: values.starts_at || "" });
  const reminder = h("input", {
    type: "number",
    name: "reminder_days",
    min: "1",
    max: "60",
    step: "1",
    inputmode: "numeric",
    value: values.reminder_days || "7",
  });
  const closesAt = h("input", { type: "datetime-local", name: "closes_at", value: values.closes_at || "" });
  return { startsAt, reminder, closesAt };
}

function textFields(values) {
  const controls = {};
  const parts = [];
  for (const language of ["fr", "en"]) {
    controls[`subjects.${language}`] = h("input", {
      type: "text",
      name: `subject_${language}`,
      maxlength: "200",
      lang: language,
      value: values[`subject_${language}`] || "",
    });
  }
  for (const language of ["fr", "en"]) {
    controls[`intros.${language}`] = h(
      "textarea",
      { name: `intro_${language}`, maxlength: "2000", lang: language, rows: "3" },
      values[`intro_${language}`] || "",
    );
  }
  parts.push(field(t("waves.field.subject_fr"), controls["subjects.fr"], values.subjectHint));
  parts.push(field(t("waves.field.subject_en"), controls["subjects.en"], values.subjectHint));
  parts.push(field(t("waves.field.intro_fr"), controls["intros.fr"], values.introHint));
  parts.push(field(t("waves.field.intro_en"), controls["intros.en"], values.introHint));
  return { controls, parts };
}

function createPage(main) {
  const key = newKey();
  const name = h("input", { type: "text", name: "name", required: true, maxlength: "200", autocomplete: "off" });
  const everyone = h("input", { type: "radio", name: "target_kind", value: "everyone" });
  const chosen = h("input", { type: "radio", name: "target_kind", value: "chosen", checked: true });
  const segments = h("input", { type: "text", name: "segments", autocomplete: "off", spellcheck: "false" });
  const languageBoxes = ["fr", "en"].map((code) =>
    h("label", {}, h("input", { type: "checkbox", name: "languages", value: code }), languageName(code)),
  );
  const languagesSet = h(
    "fieldset",
    { tabindex: "-1", id: "wave-languages" },
    h("legend", {}, t("waves.field.languages")),
    h("div", { class: "choices" }, languageBoxes),
    h("p", { class: "hint" }, t("waves.hint.languages")),
  );
  const targetSet = h(
    "fieldset",
    { tabindex: "-1", id: "wave-target" },
    h("legend", {}, t("waves.field.target")),
    h(
      "div",
      { class: "choices" },
      h("label", {}, chosen, t("waves.target.chosen")),
      h("label", {}, everyone, t("waves.target.everyone")),
    ),
    field(t("waves.field.segments"), segments, t("waves.hint.segments")),
    languagesSet,
  );
  const { startsAt, reminder, closesAt } = timeFields({});
  const texts = textFields({ subjectHint: t("waves.hint.subject_default"), introHint: t("waves.hint.intro_default") });
  const summary = h("div", {});
  const submit = h("button", { type: "submit", class: "primary" }, t("waves.create"));
  const form = h(
    "form",
    { class: "panel wave-form", novalidate: true },
    summary,
    field(t("waves.field.name"), name, t("waves.hint.name")),
    targetSet,
    field(t("waves.field.starts_at"), startsAt, t("waves.hint.starts_at")),
    field(t("waves.field.reminder_days"), reminder, t("waves.hint.reminder_days")),
    field(t("waves.field.closes_at"), closesAt, t("waves.hint.closes_at")),
    h("h2", {}, t("waves.texts")),
    h("p", { class: "hint" }, t("waves.texts.hint")),
    texts.parts,
    h("div", { class: "actions" }, submit, link("/staff/waves", t("waves.back"))),
  );
  const controls = {
    name,
    target: targetSet,
    "target.segments": segments,
    "target.languages": languagesSet,
    starts_at: startsAt,
    reminder_delay: reminder,
    closes_at: closesAt,
    ...texts.controls,
  };
  const draftKey = "wave:new";
  bindDraft(form, draftKey);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const isEveryone = everyone.checked;
    const body = {
      name: name.value.trim(),
      target: isEveryone
        ? { everyone: true }
        : {
            segments: segments.value
              .split(/[,;\s]+/)
              .map((part) => part.trim().toLowerCase())
              .filter(Boolean),
            languages: languageBoxes.map((label) => label.querySelector("input")).filter((box) => box.checked).map((box) => box.value),
          },
    };
    if (startsAt.value) body.starts_at = parisToIso(startsAt.value);
    if (reminder.value) body.reminder_delay = `P${Math.max(1, Math.round(Number(reminder.value)))}D`;
    if (closesAt.value) body.closes_at = parisToIso(closesAt.value);
    const subjects = {};
    const intros = {};
    for (const language of ["fr", "en"]) {
      const subject = texts.controls[`subjects.${language}`].value.trim();
      const intro = texts.controls[`intros.${language}`].value.trim();
      if (subject) subjects[language] = subject;
      if (intro) intros[language] = intro;
    }
    if (Object.keys(subjects).length) body.subjects = subjects;
    if (Object.keys(intros).length) body.intros = intros;
    submit.disabled = true;
    try {
      const wave = await api("POST", "/waves", { body, idempotencyKey: key });
      clearDraft(draftKey);
      notify(t("waves.created", { name: wave.name }));
      navigate(`/staff/waves/${encodeURIComponent(wave.wave_id)}`);
    } catch (error) {
      showErrors({ form, summary }, error, controls);
    } finally {
      submit.disabled = false;
    }
  });
  fill(main, heading(t("waves.new.title")), form);
  name.focus();
}

// ------------------------------------------------------------------ a wave's page

async function wavePage(main, waveId, query, rerender) {
  const wave = await api("GET", `/waves/${encodeURIComponent(waveId)}`);
  if (wave.as_of) setServerNow(wave.as_of);
  const countsPanel = h("section", { class: "panel", "aria-labelledby": "wave-counts-title" });
  const factsList = h("dl", { class: "facts" });
  const statusLine = h("p", { class: "wave-status" });
  const showState = (current) => {
    fill(statusLine, h("span", { class: `badge wave-${current.status}` }, statusText(current.status)));
    fill(factsList, facts(current));
    fill(countsPanel, countsSection(current, refresh));
  };
  const refresh = async () => {
    try {
      const current = await api("GET", `/waves/${encodeURIComponent(waveId)}`);
      if (current.as_of) setServerNow(current.as_of);
      if (current.status !== wave.status) {
        notify(t("waves.refreshed_status", { status: statusText(current.status) }));
        await rerender({ focus: false });
        return;
      }
      showState(current);
      notify(t("waves.refreshed"));
      const again = document.getElementById("wave-refresh");
      if (again) again.focus();
    } catch (error) {
      countsPanel.appendChild(errorBox(error));
    }
  };
  showState(wave);
  const planned = wave.status === "planned";
  const cancellable = wave.status === "planned" || wave.status === "sending";
  fill(
    main,
    h("p", {}, link("/staff/waves", t("waves.back"))),
    heading(wave.name),
    statusLine,
    h("div", { class: "columns" }, h("section", { class: "panel" }, h("h2", {}, t("waves.facts")), factsList), countsPanel),
    previewSection(wave, query),
    testSection(wave),
    planned ? planSection(wave, rerender) : null,
    cancellable ? cancelSection(wave, rerender) : null,
  );
}

function facts(wave) {
  const rows = [
    [t("waves.fact.status"), statusText(wave.status)],
    [t("waves.fact.target"), targetSummary(wave.target)],
    [t("waves.fact.starts"), formatDateTime(wave.starts_at)],
    [t("waves.fact.reminder"), formatDateTime(wave.reminder_at)],
    [t("waves.fact.closes"), formatDateTime(wave.closes_at)],
    [t("waves.fact.subject_fr"), wave.subjects && wave.subjects.fr],
    [t("waves.fact.subject_en"), wave.subjects && wave.subjects.en],
    wave.started_at ? [t("waves.fact.started"), formatDateTime(wave.started_at)] : null,
    wave.cancelled_at ? [t("waves.fact.cancelled"), formatDateTime(wave.cancelled_at)] : null,
    wave.closed_at ? [t("waves.fact.closed"), formatDateTime(wave.closed_at)] : null,
    [t("waves.fact.created"), formatDateTime(wave.created_at)],
  ];
  return rows.filter(Boolean).map(([term, value]) => [h("dt", {}, term), h("dd", {}, value || t("none"))]);
}

function countsSection(wave, refresh) {
  const counts = wave.counts || {};
  const skipped = counts.skipped || {};
  const rows = [
    [t("waves.count.targeted"), number(counts.targeted)],
    ...Object.keys(SKIPPED).map((reason) => [SKIPPED[reason](), number(skipped[reason])]),
    [t("waves.count.invited"), number(invited(counts))],
    [t("waves.count.sent"), number(counts.sent)],
    [t("waves.count.delivered"), number(counts.delivered)],
    [t("waves.count.bounced"), number(counts.bounced)],
    [t("waves.count.complained"), number(counts.complained)],
    [t("waves.count.failed"), number((counts.failed || 0) + (counts.uncertain || 0))],
    [t("waves.count.unsubscribed"), number(counts.unsubscribed)],
    [t("waves.count.reminded"), number(counts.reminded)],
    [t("waves.count.responded"), number(counts.responded)],
    [t("waves.count.participation"), participation(counts)],
    [t("waves.count.test_sends"), number(counts.test_sends)],
  ];
  return [
    h("h2", { id: "wave-counts-title" }, t("waves.counts")),
    h("dl", { class: "facts wave-counts" }, rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
    h("p", { class: "hint" }, t("waves.as_of", { time: formatDateTime(wave.as_of) })),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", id: "wave-refresh", onclick: refresh }, t("waves.refresh")),
    ),
  ];
}

// -- preview

function previewSection(wave, query) {
  const section = h("section", { class: "panel", "aria-labelledby": "wave-preview-title" });
  const output = h("div", { class: "wave-preview" });
  const contactSelect = h("select", { name: "contact_id" }, h("option", { value: "" }, t("waves.preview.sample")));
  let shown = query.preview_lang === "en" || query.preview_lang === "fr" ? query.preview_lang : lang();
  let rendered = null;
  const button = h("button", { type: "submit", class: "primary" }, t("waves.preview.show"));
  const form = h(
    "form",
    {},
    field(t("waves.preview.contact"), contactSelect, t("waves.preview.contact_hint")),
    h("div", { class: "actions" }, button),
  );
  const draw = () => {
    if (!rendered) return;
    const email = rendered.emails[shown];
    const switcher = h(
      "div",
      { class: "actions wave-languages", role: "group", "aria-label": t("waves.preview.switch") },
      ["fr", "en"].map((code) =>
        h(
          "button",
          {
            type: "button",
            class: code === shown ? "primary" : "",
            "aria-pressed": code === shown ? "true" : "false",
            onclick: () => {
              shown = code;
              draw();
              const again = output.querySelector(`button[data-language="${code}"]`);
              if (again) again.focus();
            },
            "data-language": code,
          },
          t(code === "fr" ? "waves.preview.in_fr" : "waves.preview.in_en"),
        ),
      ),
    );
    fill(
      output,
      switcher,
      h(
        "dl",
        { class: "facts", lang: shown },
        h("dt", {}, t("waves.preview.subject")),
        h("dd", { class: "wave-subject" }, email.subject),
        h("dt", {}, t("waves.preview.to")),
        h("dd", {}, Array.isArray(email.to) ? email.to.join(", ") : email.to),
        h("dt", {}, t("waves.preview.from")),
        h("dd", {}, email.from),
      ),
      h("iframe", {
        class: "preview",
        sandbox: "",
        srcdoc: email.html,
        title: t(shown === "fr" ? "waves.preview.frame_fr" : "waves.preview.frame_en"),
      }),
      h("details", {}, h("summary", {}, t("waves.preview.text")), h("pre", { class: "pre", lang: shown }, email.text)),
    );
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      rendered = await api("POST", `/waves/${encodeURIComponent(wave.wave_id)}/preview`, {
        body: contactSelect.value ? { contact_id: contactSelect.value } : {},
      });
      draw();
      notify(t("waves.preview.ready"));
    } catch (error) {
      fill(output, errorBox(error));
    } finally {
      button.disabled = false;
    }
  });
  // a few contacts of the wave's first segment, to see the email as one of them would
  const segment = wave.target && wave.target.segments && wave.target.segments[0];
  if (segment) {
    api("GET", "/contacts", { query: { segment, limit: 20 } })
      .then((page) => {
        for (const contact of page.contacts || []) {
          const who = [contact.first_name, contact.last_name].filter(Boolean).join(" ");
          const label = [who, contact.company, contact.email].filter(Boolean).join(" · ");
          contactSelect.appendChild(h("option", { value: contact.contact_id }, label));
        }
      })
      .catch(() => {
        /* the sample is still there */
      });
  }
  return fill(
    section,
    h("h2", { id: "wave-preview-title" }, t("waves.preview.title")),
    h("p", { class: "hint" }, t("waves.preview.hint")),
    form,
    output,
  );
}

// -- test send

function testSection(wave) {
  const me = whoami() || {};
  const to = h("input", { type: "email", name: "to", autocomplete: "email", value: me.email || "" });
  const choices = ["fr", "en"].map((code) =>
    h("label", {}, h("input", { type: "radio", name: "test_language", value: code, checked: code === lang() }), languageName(code)),
  );
  const result = h("div", {});
  const button = h("button", { type: "submit" }, t("waves.test.send"));
  const form = h(
    "form",
    { novalidate: true },
    field(t("waves.test.to"), to, t("waves.test.to_hint")),
    h("fieldset", {}, h("legend", {}, t("waves.test.language")), h("div", { class: "choices" }, choices)),
    h("div", { class: "actions" }, button),
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const picked = choices.map((label) => label.querySelector("input")).find((box) => box.checked);
    button.disabled = true;
    try {
      const sent = await api("POST", `/waves/${encodeURIComponent(wave.wave_id)}/test-send`, {
        body: { to: to.value.trim(), language: picked ? picked.value : lang() },
      });
      const text = t("waves.test.sent", { to: sent.sent_to, subject: sent.subject });
      fill(result, h("p", { class: "notice" }, text));
      notify(text);
    } catch (error) {
      fill(result, errorBox(error));
    } finally {
      button.disabled = false;
    }
  });
  return h(
    "section",
    { class: "panel", "aria-labelledby": "wave-test-title" },
    h("h2", { id: "wave-test-title" }, t("waves.test.title")),
    form,
  );
}

// -- plan (a planned wave's dates and texts)

function planSection(wave, rerender) {
  const { startsAt, reminder, closesAt } = timeFields({
    starts_at: isoToParis(wave.starts_at),
    reminder_days: String(reminderDays(wave)),
    closes_at: isoToParis(wave.closes_at),
  });
  const name = h("input", { type: "text", name: "name", maxlength: "200", value: wave.name });
  const texts = textFields({
    subject_fr: (wave.subjects || {}).fr,
    subject_en: (wave.subjects || {}).en,
    intro_fr: (wave.intros || {}).fr,
    intro_en: (wave.intros || {}).en,
  });
  const summary = h("div", {});
  const button = h("button", { type: "submit", class: "primary" }, t("waves.plan.save"));
  const form = h(
    "form",
    { novalidate: true },
    summary,
    field(t("waves.field.name"), name),
    field(t("waves.field.starts_at"), startsAt, t("waves.hint.paris")),
    field(t("waves.field.reminder_days"), reminder, t("waves.hint.reminder_days")),
    field(t("waves.field.closes_at"), closesAt, t("waves.hint.paris")),
    texts.parts,
    h("div", { class: "actions" }, button),
  );
  const controls = { name, starts_at: startsAt, reminder_delay: reminder, closes_at: closesAt, ...texts.controls };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { version: wave.version };
    if (name.value.trim() !== wave.name) body.name = name.value.trim();
    if (startsAt.value && startsAt.value !== isoToParis(wave.starts_at)) body.starts_at = parisToIso(startsAt.value);
    if (reminder.value && Number(reminder.value) !== reminderDays(wave)) {
      body.reminder_delay = `P${Math.max(1, Math.round(Number(reminder.value)))}D`;
    }
    if (closesAt.value && closesAt.value !== isoToParis(wave.closes_at)) body.closes_at = parisToIso(closesAt.value);
    for (const [kind, values] of [
      ["subjects", wave.subjects || {}],
      ["intros", wave.intros || {}],
    ]) {
      const changed = {};
      for (const language of ["fr", "en"]) {
        const value = texts.controls[`${kind}.${language}`].value.trim();
        if (value && value !== (values[language] || "")) changed[language] = value;
      }
      if (Object.keys(changed).length) body[kind] = changed;
    }
    if (Object.keys(body).length === 1) {
      fill(summary, h("p", { class: "notice" }, t("waves.plan.unchanged")));
      return;
    }
    button.disabled = true;
    try {
      await api("PATCH", `/waves/${encodeURIComponent(wave.wave_id)}`, { body });
      notify(t("waves.plan.saved"));
      await rerender({ focus: false });
    } catch (error) {
      showErrors({ form, summary }, error, controls);
      button.disabled = false;
    }
  });
  return h(
    "section",
    { class: "panel", "aria-labelledby": "wave-plan-title" },
    h("h2", { id: "wave-plan-title" }, t("waves.plan.title")),
    h("p", { class: "hint" }, t("waves.plan.hint")),
    form,
  );
}

// -- cancel, with a confirmation

function cancelSection(wave, rerender) {
  const area = h("div", {});
  const ask = () => {
    const confirm = h(
      "button",
      {
        type: "button",
        class: "danger",
        onclick: async () => {
          confirm.disabled = true;
          try {
            await api("POST", `/waves/${encodeURIComponent(wave.wave_id)}/cancel`);
            notify(t("waves.cancel.done", { name: wave.name }));
            await rerender({ focus: "title" });
          } catch (error) {
            confirm.disabled = false;
            area.appendChild(errorBox(error));
          }
        },
      },
      t("waves.cancel.confirm"),
    );
    const keep = h(
      "button",
      {
        type: "button",
        onclick: () => {
          start();
          area.querySelector("button").focus();
        },
      },
      t("waves.cancel.keep"),
    );
    fill(
      area,
      h(
        "div",
        { class: "notice", role: "group", "aria-labelledby": "wave-cancel-question" },
        h("p", { id: "wave-cancel-question" }, t("waves.cancel.question", { name: wave.name })),
        h("p", {}, t(wave.status === "sending" ? "waves.cancel.sending" : "waves.cancel.planned")),
        h("div", { class: "actions" }, confirm, keep),
      ),
    );
    confirm.focus();
  };
  const start = () => {
    fill(area, h("div", { class: "actions" }, h("button", { type: "button", class: "danger", onclick: ask }, t("waves.cancel.button"))));
  };
  start();
  return h(
    "section",
    { class: "panel", "aria-labelledby": "wave-cancel-title" },
    h("h2", { id: "wave-cancel-title" }, t("waves.cancel.title")),
    area,
  );
}
