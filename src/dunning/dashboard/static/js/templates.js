// Template preview per locale (POST /v1/templates/preview): the tenant's template, or the default,
// rendered against the locale's sample case, or a draft typed here.
import { api } from "./api.js";
import { h, problemText } from "./dom.js";

const TEMPLATES = ["friendly", "reminder", "firm", "final_notice", "collections", "card_expiring", "upcoming_renewal"];
const CHANNELS = ["email", "sms", "in_app", "webhook"];
const LOCALES = [["en", "English"], ["ja", "日本語"], ["ko", "한국어"]];

const select = (id, options) => h("select", { id }, options.map((o) => (Array.isArray(o) ? h("option", { value: o[0] }, `${o[1]} (${o[0]})`) : h("option", { value: o }, o))));

export async function templatesPage() {
  const template = select("preview-template", TEMPLATES);
  const channel = select("preview-channel", CHANNELS);
  const locale = select("preview-locale", LOCALES);
  const draft = h("textarea", { id: "preview-draft", rows: 5, "aria-describedby": "draft-help" });
  const result = h("div", { id: "preview-result", "aria-live": "polite" });
  const form = h("form", { class: "card", "aria-label": "Preview a template" },
    h("div", { class: "row" },
      h("div", {}, h("label", { for: "preview-template" }, "Template"), template),
      h("div", {}, h("label", { for: "preview-channel" }, "Channel"), channel),
      h("div", {}, h("label", { for: "preview-locale" }, "Locale"), locale)),
    h("label", { for: "preview-draft" }, "Draft text (optional)"),
    draft,
    h("p", { id: "draft-help", class: "muted" }, "Empty: the stored template (yours, or the default) is rendered. Otherwise this Jinja2 text is rendered as the body; an email draft needs a subject, so drafts are for sms and in_app."),
    h("button", { type: "submit", class: "primary" }, "Preview"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { template: template.value, channel: channel.value, locale: locale.value };
    if (draft.value.trim()) body.source = { text: draft.value };
    result.replaceChildren(h("p", { class: "muted" }, "Rendering…"));
    try {
      const r = await api("/v1/templates/preview", { method: "POST", body });
      result.replaceChildren(h("article", { class: "card", lang: body.locale, "aria-label": "Rendered template" },
        r.subject ? h("p", {}, h("strong", {}, "Subject: "), h("span", { id: "preview-subject" }, r.subject)) : null,
        h("pre", { class: "message-body", id: "preview-text" }, r.text),
        r.sms_segments ? h("p", { class: "muted" }, `${r.sms_segments} SMS segment(s)`) : null,
        r.html ? h("details", {}, h("summary", {}, "HTML source"), h("pre", { class: "message-body" }, r.html)) : null,
        (r.warnings || []).map((w) => h("p", { class: "error" }, `Warning: ${w}`))));
    } catch (e) {
      result.replaceChildren(h("p", { class: "error", role: "alert" }, problemText(e)));
    }
  });
  return h("section", { "aria-labelledby": "templates-title" }, h("h1", { id: "templates-title" }, "Template preview"), form, result);
}
