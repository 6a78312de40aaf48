// Overview: KPIs of the cases opened in a date range, and recovery over time, by decline code
// and by attempt number (GET /v1/analytics/recovery: a few aggregate rows whatever the volume).
import { api, query } from "./api.js";
import { h, table, money, percent, duration } from "./dom.js";
import { barChart } from "./charts.js";

const OPEN_COUNT_PAGES = 5; // 1,000 cases: beyond that "1,000+", so the page stays one request deep

const day = (d) => d.toISOString().slice(0, 10);

async function countOpen() {
  let count = 0, cursor = null;
  for (let page = 0; page < OPEN_COUNT_PAGES; page++) {
    const result = await api(`/v1/cases${query({ status: "open", limit: 200, cursor })}`);
    count += result.data.length;
    cursor = result.next_cursor;
    if (!cursor) return String(count);
  }
  return `${count.toLocaleString("en")}+`;
}

const report = (groupBy, range) => api(`/v1/analytics/recovery${query({ group_by: groupBy, ...range })}`);

function kpi(id, label, value) {
  return h("div", { class: "card kpi", id }, h("div", { class: "value" }, value), h("div", { class: "label" }, label));
}

function amountsRecovered(groups) {
  const totals = new Map();
  for (const g of groups) for (const a of g.amounts) totals.set(a.currency, (totals.get(a.currency) || 0) + a.recovered);
  return [...totals].sort();
}

const GROUP_COLUMNS = (keyLabel) => [
  { label: keyLabel, value: (g) => g.key },
  { label: "Opened", num: true, value: (g) => g.cases_opened },
  { label: "Recovered", num: true, value: (g) => g.cases_recovered },
  { label: "Recovery rate", num: true, value: (g) => percent(g.recovery_rate) },
  { label: "Recovered amount", num: true, value: (g) => g.amounts.map((a) => money(a.recovered, a.currency)).join(", ") || "—" },
  { label: "Time to recover p50 / p90", num: true, value: (g) => `${duration(g.time_to_recover_p50_seconds)} / ${duration(g.time_to_recover_p90_seconds)}` },
  { label: "Attempts per recovery", num: true, value: (g) => g.attempts_per_recovery ?? "—" },
  { label: "Messages per recovery", num: true, value: (g) => g.messages_per_recovery ?? "—" },
];

export async function overviewPage() {
  const now = new Date();
  const tomorrow = new Date(now.getTime() + 86400000);
  const from = h("input", { id: "range-from", type: "date", value: day(new Date(tomorrow.getTime() - 90 * 86400000)) });
  const to = h("input", { id: "range-to", type: "date", value: day(tomorrow) });
  const body = h("div", { id: "overview-body" });
  const form = h("form", { class: "row", "aria-label": "Date range" },
    h("div", {}, h("label", { for: "range-from" }, "Cases opened from"), from),
    h("div", {}, h("label", { for: "range-to" }, "to (exclusive)"), to),
    h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });

  async function load() {
    const range = { from: from.value, to: to.value };
    body.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    try {
      const [total, weeks, declines, attempts, open] = await Promise.all([
        report("none", range), report("cohort_week", range), report("decline_code", range),
        report("attempt_number", range), countOpen(),
      ]);
      body.replaceChildren(...render(total, weeks, declines, attempts, open));
    } catch (e) {
      body.replaceChildren(h("p", { class: "error", role: "alert" }, e.message));
    }
  }
  await load();
  return h("section", { "aria-labelledby": "overview-title" },
    h("h1", { id: "overview-title" }, "Overview"), form, body,
    h("p", { class: "muted" }, "Figures are for the cohort of cases opened in the range; a case counts as recovered when its invoice was paid."));
}

function render(total, weeks, declines, attempts, open) {
  const all = total.groups[0] || { cases_opened: 0, cases_recovered: 0, recovery_rate: null, amounts: [] };
  const recovered = amountsRecovered(total.groups);
  const currencies = [...new Set(weeks.groups.flatMap((g) => g.amounts.map((a) => a.currency)))].sort();
  const recoveredIn = (g, c) => (g.amounts.find((a) => a.currency === c) || { recovered: 0 }).recovered;
  return [
    h("h2", {}, "Key figures"),
    h("div", { class: "kpis" },
      kpi("kpi-open", "Cases open now", open),
      kpi("kpi-opened", "Cases opened in range", all.cases_opened),
      kpi("kpi-recovered", "Recovered in range", all.cases_recovered),
      kpi("kpi-rate", "Recovery rate", percent(all.recovery_rate)),
      kpi("kpi-amount", "Amount recovered", recovered.length ? recovered.map(([c, v]) => money(v, c)).join(" · ") : "—")),
    h("h2", {}, "Over time (by cohort week)"),
    h("div", { class: "grid2" },
      ...currencies.map((c) => barChart(`Recovered revenue by cohort week (${c})`,
        weeks.groups.map((g) => ({ label: g.key, value: recoveredIn(g, c), text: money(recoveredIn(g, c), c) })))),
      barChart("Recovery rate by cohort week",
        weeks.groups.map((g) => ({ label: g.key, value: g.recovery_rate || 0, text: percent(g.recovery_rate) })))),
    h("h2", {}, "By decline code"),
    barChart("Recovery rate by decline code",
      declines.groups.map((g) => ({ label: g.key, value: g.recovery_rate || 0, text: `${percent(g.recovery_rate)} of ${g.cases_opened}` }))),
    table("Recovery by decline code", GROUP_COLUMNS("Decline code"), declines.groups),
    h("h2", {}, "By attempt number"),
    barChart("Recovered cases by the attempt that recovered them",
      attempts.groups.filter((g) => g.key !== "none").map((g) => ({ label: `attempt ${g.key}`, value: g.cases_recovered, text: String(g.cases_recovered) }))),
    table("Recovery by attempt number", GROUP_COLUMNS("Attempt (none: not recovered)"), attempts.groups),
  ];
}
