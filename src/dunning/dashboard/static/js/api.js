// The /v1 API from the browser: the API key lives in sessionStorage (gone when the tab closes).
const KEY = "dunning.apiKey";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  signIn(key) { sessionStorage.setItem(KEY, key); },
  signOut() { sessionStorage.removeItem(KEY); },
};

export async function api(path, { method = "GET", body, idempotent = false, key = session.key } = {}) {
  const headers = { Authorization: `Bearer ${key}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // One key per click: a retried request is answered once, a new click acts again.
  if (idempotent) headers["Idempotency-Key"] = crypto.randomUUID();
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let payload = null;
  try { payload = text ? JSON.parse(text) : null; } catch { payload = { detail: text }; }
  if (!response.ok) {
    if (response.status === 401 && key === session.key) window.dispatchEvent(new Event("dunning:unauthorized"));
    throw new ApiError(response.status, payload || {});
  }
  return payload;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") q.set(name, value);
  const s = q.toString();
  return s ? `?${s}` : "";
}
