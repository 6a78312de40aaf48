// One case: its facts, actions, attempts with their reasons, every timeline entry, the messages
// as rendered (GET /v1/notifications?case_id=) and the suppressions with their reason.
import { api, query } from "./api.js";
import { h, table, money, when, announce, problemText } from "./dom.js";

const ACTIONS = [
  ["retry", "Retry now"],
  ["pause", "Pause"],
  ["resume", "Resume"],
  ["write-off", "Write off"],
];

export async function casePage(caseId) {
  const id = decodeURIComponent(caseId);
  const [c, messages] = await Promise.all([
    api(`/v1/cases/${encodeURIComponent(id)}`),
    api(`/v1/notifications${query({ case_id: id, limit: 200 })}`),
  ]);
  const outcome = h("p", { id: "action-result", role: "status", "aria-live": "polite" });
  const section = h("section", { "aria-labelledby": "case-title" });

  async function act(action, label) {
    if (action === "write-off" && !confirm(`Write off ${id}? Dunning stops for this invoice.`)) return;
    outcome.className = "";
    outcome.textContent = `${label}…`;
    try {
      const answer = await api(`/v1/cases/${encodeURIComponent(id)}/${action}`, { method: "POST", idempotent: true });
      const fresh = await casePage(id);
      section.replaceWith(fresh);
      const result = fresh.querySelector("#action-result");
      result.className = "ok";
      result.textContent = `${label}: ${answer.note} (status ${answer.status})`;
      announce(result.textContent);
    } catch (e) {
      outcome.className = "error";
      outcome.textContent = `${label} failed: ${problemText(e)}`;
    }
  }

  const planSelect = h("select", { id: "plan-instalments" },
    [2, 3, 4, 5, 6].map((n) => h("option", { value: String(n) }, String(n))));

  // A plan of N instalments (POST /v1/cases/{id}/payment-plans, ADR 0009): the API checks the
  // tenant's limits and answers a problem the page shows as it is.
  async function startPlan() {
    const instalments = Number(planSelect.value);
    const label = "Start payment plan";
    outcome.className = "";
    outcome.textContent = `${label}…`;
    try {
      const answer = await api(`/v1/cases/${encodeURIComponent(id)}/payment-plans`, { method: "POST", body: { instalments }, idempotent: true });
      const fresh = await casePage(id);
      section.replaceWith(fresh);
      const result = fresh.querySelector("#action-result");
      result.className = "ok";
      result.textContent = `${label}: ${instalments} instalments planned (status ${answer.status})`;
      announce(result.textContent);
    } catch (e) {
      outcome.className = "error";
      outcome.textContent = `${label} failed: ${problemText(e)}`;
    }
  }

  // The case timeline records every suppression with its reason (notify's decision, as published).
  const suppressed = c.timeline.filter((t) => t.type === "notification.suppressed");
  section.append(
    h("p", {}, h("a", { href: "#/cases" }, "← Cases")),
    h("h1", { id: "case-title" }, `Case ${c.id} `, h("span", { class: "badge", id: "case-status" }, c.status)),
    h("div", { class: "card" }, h("dl", { class: "facts" },
      ...fact("Invoice", c.invoice_id), ...fact("Customer", c.customer_id), ...fact("Subscription", c.subscription_id),
      ...fact("Amount owed", money(c.amount, c.currency)), ...fact("Last decline", c.decline_code),
      ...fact("Failures", c.failures), ...fact("Opened", when(c.opened_at)),
      ...fact("Paused for", c.pause_reasons.join(", ")), ...fact("Resolution", c.resolution && `${c.resolution} at ${when(c.resolved_at)}`),
      ...fact("Payment page", c.hosted_invoice_url && h("a", { href: c.hosted_invoice_url, rel: "noopener noreferrer" }, "hosted invoice")))),
    h("h2", { id: "actions-title" }, "Actions"),
    h("div", { class: "actions", role: "group", "aria-labelledby": "actions-title" },
      ACTIONS.map(([action, label]) => h("button", { type: "button", id: `action-${action}`, onclick: () => act(action, label) }, label)),
      h("label", { for: "plan-instalments" }, "Instalments"),
      planSelect,
      h("button", { type: "button", id: "action-plan", onclick: startPlan, "aria-describedby": "plan-note" }, "Start payment plan"),
      h("span", { id: "plan-note", class: "muted" }, "Within the tenant's collections policy; dunning waits while the plan runs.")),
    outcome,
    h("h2", {}, "Attempts"),
    table("Attempts", [
      { label: "#", num: true, value: (a) => a.attempt_no },
      { label: "Kind", value: (a) => `${a.kind} (${a.source})` },
      { label: "Status", value: (a) => a.status },
      { label: "Due", value: (a) => when(a.due_at) },
      { label: "Reason", value: (a) => a.reason || "—" },
      { label: "Decline", value: (a) => a.decline_code || a.failure_code || "—" },
      { label: "Finished", value: (a) => when(a.finished_at) },
    ], c.attempts),
    h("h2", {}, "Timeline"),
    h("ol", { class: "timeline", id: "timeline" }, c.timeline.map((t) => h("li", { class: t.kind },
      h("div", {}, h("strong", {}, t.type), " ", h("span", { class: "muted" }, `${t.kind} · ${when(t.at)}`)),
      h("div", {}, t.note)))),
    h("h2", {}, `Messages (${messages.data.length}${messages.next_cursor ? "+" : ""})`),
    messages.data.length ? h("div", { id: "messages" }, messages.data.map(message)) : h("p", { class: "muted" }, "No messages for this case."),
    h("h2", {}, "Suppressions"),
    h("div", { id: "suppressions" }, table("Suppressed messages", [
      { label: "When", value: (t) => when(t.at) },
      { label: "Message", value: (t) => `${t.data.template || "?"} by ${t.data.channel || "?"}` },
      { label: "Reason", value: (t) => t.data.reason_code || "—" },
      { label: "Why", value: (t) => t.note },
    ], suppressed)));
  return section;
}

function fact(label, value) {
  return [h("dt", {}, label), h("dd", {}, value === null || value === undefined || value === "" ? "—" : value)];
}

function message(m) {
  return h("article", { class: "card", "aria-label": `${m.template} by ${m.channel}` },
    h("div", {}, h("strong", {}, `${m.level_name || m.template} · ${m.channel}`), " ",
      h("span", { class: "badge" }, m.status), " ", h("span", { class: "muted" }, `${m.locale || ""} ${m.address || ""} ${when(m.sent_at || m.due_at)}`)),
    m.note ? h("div", { class: "muted" }, m.note, m.reason_code ? ` (${m.reason_code})` : "") : null,
    m.subject ? h("div", {}, h("strong", {}, "Subject: "), m.subject) : null,
    m.body_text ? h("pre", { class: "message-body" }, m.body_text) : h("p", { class: "muted" }, "Not rendered yet."));
}
