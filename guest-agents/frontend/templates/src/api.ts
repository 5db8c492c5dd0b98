/** The backend's REST API: JSON over fetch, with the bearer token when logged in. */
import type { Row } from "./types";

const BASE = (import.meta.env.VITE_API_URL as string | undefined) ?? "";
const TOKEN_KEY = "token";

/** A response that was not a success: its status, the server's message and,
 * for a 422, the message for each body field it names. */
export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public fields: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function getToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

type Issue = { loc?: unknown[]; msg?: string };

function issues(body: unknown): Issue[] | string | null {
  if (body && typeof body === "object" && "detail" in body) {
    const d = (body as { detail: unknown }).detail;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) return d.map((e) => (e && typeof e === "object" ? (e as Issue) : { msg: String(e) }));
  }
  return null;
}

/** FastAPI's `detail` as one message. */
function detail(body: unknown, fallback: string): string {
  const found = issues(body);
  if (typeof found === "string") return found;
  if (found) return found.map((e) => e.msg ?? "invalid").join("; ");
  return fallback;
}

/** The messages of a 422 `detail` by body field (`loc: ["body", "price"]`). */
export function fieldIssues(body: unknown): Record<string, string> {
  const found = issues(body);
  const fields: Record<string, string> = {};
  if (!Array.isArray(found)) return fields;
  for (const e of found) {
    const loc = e.loc ?? [];
    if (loc[0] === "body" && typeof loc[1] === "string" && !(loc[1] in fields)) fields[loc[1]] = e.msg ?? "invalid";
  }
  return fields;
}

export async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  const token = getToken();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  if (init.body && typeof init.body === "string") headers.set("Content-Type", "application/json");
  const response = await fetch(`${BASE}${path}`, { ...init, headers });
  if (response.status === 204) return undefined as T;
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const fallback = `${response.status} ${response.statusText}`.trim();
    throw new ApiError(response.status, detail(body, fallback), fieldIssues(body));
  }
  return body as T;
}

export const api = {
  list: (plural: string) => request<Row[]>(`/api/${plural}`),
  create: (plural: string, data: Record<string, unknown>) =>
    request<Row>(`/api/${plural}`, { method: "POST", body: JSON.stringify(data) }),
  update: (plural: string, id: number, data: Record<string, unknown>) =>
    request<Row>(`/api/${plural}/${id}`, { method: "PUT", body: JSON.stringify(data) }),
  remove: (plural: string, id: number) => request<void>(`/api/${plural}/${id}`, { method: "DELETE" }),
  async login(email: string, password: string): Promise<void> {
    const form = new URLSearchParams({ username: email, password });
    const token = await request<{ access_token: string }>("/api/auth/token", { method: "POST", body: form });
    setToken(token.access_token);
  },
  register: (email: string, password: string) =>
    request<{ id: number; email: string }>("/api/auth/register", {
      method: "POST",
      body: JSON.stringify({ email, password }),
    }),
};
