import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, api, getToken, setToken } from "../api";

afterEach(() => {
  vi.unstubAllGlobals();
  setToken(null);
});

function stub(response: Response) {
  const fetch = vi.fn(async (_url: string, _init?: RequestInit) => response);
  vi.stubGlobal("fetch", fetch);
  return fetch;
}

describe("api", () => {
  it("sends JSON with the bearer token", async () => {
    setToken("t0k3n");
    const fetch = stub(Response.json({ id: 1 }, { status: 201 }));
    await api.create("things", { a: 1 });
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe("/api/things");
    const headers = new Headers(init?.headers);
    expect(headers.get("Authorization")).toBe("Bearer t0k3n");
    expect(headers.get("Content-Type")).toBe("application/json");
    expect(init?.body).toBe('{"a":1}');
  });

  it("turns an error response into an ApiError with the server's detail", async () => {
    stub(Response.json({ detail: [{ msg: "field required" }] }, { status: 422 }));
    const error = await api.list("things").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(422);
    expect((error as ApiError).message).toBe("field required");
  });

  it("keeps a 422's messages by the body field they name", async () => {
    stub(
      Response.json(
        { detail: [{ loc: ["body", "price"], msg: "must be positive" }, { loc: ["query", "page"], msg: "bad page" }] },
        { status: 422 },
      ),
    );
    const error = (await api.create("things", {}).catch((e: unknown) => e)) as ApiError;
    expect(error.fields).toEqual({ price: "must be positive" });
  });

  it("returns nothing for 204", async () => {
    stub(new Response(null, { status: 204 }));
    await expect(api.remove("things", 1)).resolves.toBeUndefined();
  });

  it("logs in with a form and keeps the token", async () => {
    const fetch = stub(Response.json({ access_token: "abc", token_type: "bearer" }));
    await api.login("ada@example.com", "secret-password");
    expect(getToken()).toBe("abc");
    const body = fetch.mock.calls[0][1]?.body as URLSearchParams;
    expect(body.get("username")).toBe("ada@example.com");
  });
});
