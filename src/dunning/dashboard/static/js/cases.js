// Case list: status filter, customer search, keyset pages (GET /v1/cases: never an offset or a count).
import { api, query } from "./api.js";
import { h, table, money, when } from "./dom.js";

const STATUSES = ["open", "paused", "exhausted", "recovered", "written_off", "closed"];

export async function casesPage(params) {
  const status = params.get("status") || "";
  const customer = params.get("customer_id") || "";
  const invoice = params.get("invoice_id") || "";
  const cursor = params.get("cursor") || "";
  const page = await api(`/v1/cases${query({ status, customer_id: customer, invoice_id: invoice, cursor, limit: 50 })}`);

  const statusSelect = h("select", { id: "filter-status", name: "status" },
    h("option", { value: "" }, "All"), STATUSES.map((s) => h("option", { value: s, selected: s === status }, s)));
  const search = h("input", { id: "filter-search", name: "q", type: "search", value: customer || invoice, "aria-describedby": "search-help" });
  const form = h("form", { class: "row", role: "search", "aria-label": "Filter cases" },
    h("div", {}, h("label", { for: "filter-status" }, "Status"), statusSelect),
    h("div", {}, h("label", { for: "filter-search" }, "Customer, invoice or case id"), search,
      h("div", { id: "search-help", class: "muted" }, "cus_… lists the customer's cases; in_… finds the invoice's case; case_… opens the case.")),
    h("button", { type: "submit", class: "primary" }, "Filter"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = search.value.trim();
    if (q.startsWith("case_")) { location.hash = `#/cases/${encodeURIComponent(q)}`; return; }
    const by = q.startsWith("in_") ? { invoice_id: q } : { customer_id: q };
    location.hash = `#/cases${query({ status: statusSelect.value, ...by })}`;
  });

  const columns = [
    { label: "Case", value: (c) => h("a", { href: `#/cases/${c.id}` }, c.id) },
    { label: "Invoice", value: (c) => c.invoice_id },
    { label: "Customer", value: (c) => c.customer_id || "—" },
    { label: "Status", value: (c) => h("span", { class: "badge" }, c.status) },
    { label: "Amount", num: true, value: (c) => money(c.amount, c.currency) },
    { label: "Decline", value: (c) => c.decline_code || "—" },
    { label: "Failures", num: true, value: (c) => c.failures },
    { label: "Opened", value: (c) => when(c.opened_at) },
  ];
  const pager = h("nav", { class: "row", "aria-label": "Pages" },
    cursor ? h("button", { type: "button", onclick: () => history.back() }, "← Previous page") : null,
    cursor ? h("a", { href: `#/cases${query({ status, customer_id: customer })}` }, "First page") : null,
    page.next_cursor
      ? h("a", { id: "next-page", href: `#/cases${query({ status, customer_id: customer, cursor: page.next_cursor })}` }, "Next page →")
      : h("span", { class: "muted" }, "Last page"));
  return h("section", { "aria-labelledby": "cases-title" },
    h("h1", { id: "cases-title" }, "Cases"), form,
    h("p", { class: "muted", id: "cases-count" }, `${page.data.length} case(s) on this page`),
    table("Cases", columns, page.data), pager);
}
