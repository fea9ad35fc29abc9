// Talking to the console's JSON API (docs/console.md, "JSON API"), the per-run token, and the
// query string that keeps each page's filters (so a view can be bookmarked and shared).

const TOKEN_KEY = "otel-trading-console-token";

/**
 * The token arrives once in the login URL (?token=...): keep it for this tab only and take it
 * out of the address bar at once, so it is not bookmarked, shared or left in the history.
 */
export function adoptTokenFromUrl() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("token");
  if (token === null) return;
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  url.searchParams.delete("token");
  history.replaceState(history.state, "", url.pathname + url.search + url.hash);
}

export function hasToken() {
  return Boolean(sessionStorage.getItem(TOKEN_KEY));
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function answer(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body && typeof body.error === "string" ? body.error : `HTTP ${response.status}`;
    throw new ApiError(response.status, message);
  }
  return body;
}

/** GET /api/<path> with the given query (empty values left out). */
export async function getJSON(path, query = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== null && item !== undefined && item !== "") params.append(key, String(item));
    }
  }
  const suffix = params.toString() ? `?${params}` : "";
  return answer(await fetch(`/api/${path}${suffix}`, { headers: { Accept: "application/json" } }));
}

/** POST /api/<path> as JSON with the tab's token: the only way the console changes anything. */
export async function postJSON(path, body) {
  const token = sessionStorage.getItem(TOKEN_KEY) || "";
  const response = await fetch(`/api/${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Console-Token": token },
    body: JSON.stringify(body ?? {}),
  });
  try {
    return await answer(response);
  } catch (error) {
    if (error.status === 403 && !token) {
      throw new ApiError(403, "no console token in this tab: open the login URL the console printed (…/?token=…)");
    }
    throw error;
  }
}

let infoPromise = null;
/** GET /api/info once per page load: mode (store|live), controls, alerts. */
export function info() {
  if (!infoPromise) infoPromise = getJSON("info");
  return infoPromise;
}

// -- the query string ----------------------------------------------------------------------

export function query() {
  return new URLSearchParams(window.location.search);
}

/** Replaces the query string (no new history entry) with the non-empty values of `values`. */
export function setQuery(values) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== null && item !== undefined && item !== "" && item !== false) params.append(key, String(item));
    }
  }
  const search = params.toString();
  history.replaceState(history.state, "", window.location.pathname + (search ? `?${search}` : ""));
}

// -- time ranges ---------------------------------------------------------------------------

export const RANGES = [
  ["15m", "last 15 minutes", 15 * 60e3],
  ["1h", "last hour", 3600e3],
  ["6h", "last 6 hours", 6 * 3600e3],
  ["24h", "last 24 hours", 24 * 3600e3],
  ["7d", "last 7 days", 7 * 24 * 3600e3],
  ["all", "all time", null],
];

/** since_ns for a range name, as an exact decimal string (nanoseconds overflow a double's integers). */
export function sinceNs(range) {
  const found = RANGES.find(([name]) => name === range);
  if (!found || found[2] === null) return null;
  return String(BigInt(Math.round(Date.now() - found[2])) * 1000000n);
}

/** A datetime-local input value ("2026-12-07T03:34") as unix nanoseconds (a decimal string), or null. */
export function localTimeNs(value) {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? null : String(BigInt(ms) * 1000000n);
}
