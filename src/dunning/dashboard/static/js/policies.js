// Retry and escalation policy editors: the JSON as the API takes it, checked by the server,
// whose refusal (the rule broken, or each field in error) is shown beside the editor.
import { api } from "./api.js";
import { h, problemText, announce } from "./dom.js";

const POLICIES = [
  ["retry", "Retry policy", "/v1/retry-policy", "How and when failed charges are retried (docs/api.md, PUT /v1/retry-policy)."],
  ["escalation", "Escalation policy", "/v1/escalation-policy", "Which messages go out, when and how (docs/api.md, PUT /v1/escalation-policy)."],
];

export async function policiesPage() {
  const current = await Promise.all(POLICIES.map(([, , path]) => api(path)));
  return h("section", { "aria-labelledby": "policies-title" },
    h("h1", { id: "policies-title" }, "Policies"),
    POLICIES.map(([id, title, path, help], n) => editor(id, title, path, help, current[n])));
}

function editor(id, title, path, help, policy) {
  const area = h("textarea", { id: `${id}-policy`, rows: 18, spellcheck: "false", "aria-describedby": `${id}-help ${id}-error` });
  area.value = JSON.stringify(policy, null, 2);
  const error = h("p", { id: `${id}-error`, class: "error", role: "alert" });
  const saved = h("p", { id: `${id}-saved`, class: "ok", role: "status" });
  const form = h("form", { class: "card", "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, title),
    h("label", { for: `${id}-policy` }, `${title} (JSON)`),
    h("p", { id: `${id}-help`, class: "muted" }, help),
    area, error, saved,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, `Save ${title.toLowerCase()}`),
      h("button", { type: "button", onclick: async () => { area.value = JSON.stringify(await api(path), null, 2); error.textContent = ""; } }, "Revert")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    saved.textContent = "";
    let body;
    try { body = JSON.parse(area.value); } catch (e) { error.textContent = `Not valid JSON: ${e.message}`; area.setAttribute("aria-invalid", "true"); return; }
    try {
      area.value = JSON.stringify(await api(path, { method: "PUT", body }), null, 2);
      area.removeAttribute("aria-invalid");
      saved.textContent = `${title} saved.`;
      announce(saved.textContent);
    } catch (e) {
      area.setAttribute("aria-invalid", "true");
      error.textContent = `Not saved: ${problemText(e)}`;
    }
  });
  return form;
}
