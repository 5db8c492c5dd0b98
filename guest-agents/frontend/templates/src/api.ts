/** The backend's REST API: JSON over fetch, with the bearer token when logged in. */
import type { Row } from "./types";

const BASE = (import.meta.env.VITE_API_URL as string | undefined) ?? "";
const TOKEN_KEY = "token";

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
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

function detail(body: unknown, fallback: string): string {
  if (body && typeof body === "object" && "detail" in body) {
    const d = (body as { detail: unknown }).detail;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) return d.map((e) => (e as { msg?: string }).msg ?? String(e)).join("; ");
  }
  return fallback;
}

export async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  const token = getToken();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  if (init.body && typeof init.body === "string") headers.set("Content-Type", "application/json");
  const response = await fetch(`${BASE}${path}`, { ...init, headers });
  if (response.status === 204) return undefined as T;
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, detail(body, `${response.status} ${response.statusText}`));
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
