/** The one place that talks HTTP to the platform: same-origin session auth,
 * Django's CSRF token on every write, errors as ApiError with the server's
 * message ({message, extra} from core.errors). */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown = null,
  ) {
    super(message);
  }
}

export function csrfToken(cookies: string = document.cookie): string {
  for (const part of cookies.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "csrftoken") return decodeURIComponent(rest.join("="));
  }
  return "";
}

export async function getJson<T>(url: string, accept = "application/json"): Promise<T> {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: accept } });
  return parse<T>(response);
}

export async function postJson<T>(url: string, body: unknown): Promise<T> {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body ?? {}),
  });
  return parse<T>(response);
}

export async function getBlob(url: string): Promise<Blob> {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new ApiError(response.status, `HTTP ${response.status}`);
  return response.blob();
}

async function parse<T>(response: Response): Promise<T> {
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  if (!response.ok) throw new ApiError(response.status, errorMessage(response.status, body), body);
  return body as T;
}

function errorMessage(status: number, body: unknown): string {
  if (body && typeof body === "object") {
    const record = body as Record<string, unknown>;
    if (typeof record["message"] === "string") return record["message"];
    if (typeof record["detail"] === "string") return record["detail"];
    const first = Object.entries(record)[0];
    if (first) return `${first[0]}: ${String(first[1])}`;
  }
  return `HTTP ${status}`;
}
