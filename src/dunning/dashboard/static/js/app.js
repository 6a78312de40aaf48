// Routing (#/page/...), sign-in and sign-out; every page renders itself into <main>.
import { api, session, ApiError } from "./api.js";
import { h, announce } from "./dom.js";
import { overviewPage } from "./overview.js";
import { casesPage } from "./cases.js";
import { casePage } from "./case.js";
import { policiesPage } from "./policies.js";
import { templatesPage } from "./templates.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const signOut = document.getElementById("sign-out");

const ROUTES = [
  [/^#\/overview$/, () => overviewPage(), "Overview"],
  [/^#\/cases(\?.*)?$/, (m) => casesPage(new URLSearchParams((m[1] || "").slice(1))), "Cases"],
  [/^#\/cases\/([\w-]+)$/, (m) => casePage(m[1]), "Case"],
  [/^#\/policies$/, () => policiesPage(), "Policies"],
  [/^#\/templates$/, () => templatesPage(), "Templates"],
];

function signInPage(message) {
  nav.hidden = true;
  signOut.hidden = true;
  const error = h("p", { id: "signin-error", class: "error", role: "alert" }, message || "");
  const input = h("input", { id: "api-key", name: "api-key", type: "password", autocomplete: "off", required: true, "aria-describedby": "signin-help signin-error" });
  const form = h("form", { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("label", { for: "api-key" }, "API key"),
    input,
    h("p", { id: "signin-help", class: "muted" }, "A tenant API key (dk_…). Locally: the key in .dunning/admin.key. It is kept in this tab only."),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    error.textContent = "";
    try {
      await api("/v1/cases?limit=1", { key });
      session.signIn(key);
      if (!location.hash || location.hash === "#/signin") location.hash = "#/overview";
      else route();
    } catch (e) {
      error.textContent = e instanceof ApiError && e.status === 401
        ? `Sign-in failed: ${e.message}.`
        : `Sign-in failed: ${e.message}`;
      input.focus();
    }
  });
  main.replaceChildren(form);
  input.focus();
}

async function route() {
  if (!session.key) return signInPage();
  nav.hidden = false;
  signOut.hidden = false;
  const hash = location.hash || "#/overview";
  for (const a of nav.querySelectorAll("a")) {
    if (hash.startsWith(a.getAttribute("href"))) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const found = ROUTES.map(([re, page, title]) => [hash.match(re), page, title]).find(([m]) => m);
  if (!found) { location.hash = "#/overview"; return; }
  const [match, page, title] = found;
  document.title = `${title} · Dunning dashboard`;
  main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    main.replaceChildren(await page(match));
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return;
    main.replaceChildren(h("h1", {}, title), h("p", { class: "error", role: "alert" }, e.message));
  }
  main.focus();
  announce(`${title} loaded`);
}

window.addEventListener("dunning:unauthorized", () => {
  session.signOut();
  signInPage("Your API key was refused (unknown or revoked): sign in again.");
});
signOut.addEventListener("click", () => { session.signOut(); signInPage("Signed out."); });
window.addEventListener("hashchange", route);
route();
