import { cleanup, render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import App from "../App";
import { setToken } from "../api";
import { AUTH, ENTITIES } from "../spec";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  setToken(null);
});

describe("App", () => {
  it("links every entity's page once logged in", () => {
    setToken("t");
    vi.stubGlobal("fetch", vi.fn(async () => Response.json([])));
    render(
      <MemoryRouter future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <App />
      </MemoryRouter>,
    );
    for (const e of ENTITIES) expect(screen.getByRole("link", { name: e.label })).toBeTruthy();
  });

  it("asks to log in first when the API needs it", () => {
    render(
      <MemoryRouter future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <App />
      </MemoryRouter>,
    );
    expect(screen.queryByRole("heading", { name: "Log in" }) !== null).toBe(AUTH);
  });
});
