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

function renderAt(path: string) {
  return render(
    <MemoryRouter initialEntries={[path]} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
      <App />
    </MemoryRouter>,
  );
}

function loggedIn() {
  setToken("t");
  vi.stubGlobal(
    "fetch",
    vi.fn(async () => Response.json([])),
  );
}

describe("App", () => {
  it("links every entity's page once logged in", () => {
    loggedIn();
    renderAt("/");
    for (const e of ENTITIES) expect(screen.getByRole("link", { name: e.label })).toBeTruthy();
  });

  it("marks the current page in the navigation", () => {
    loggedIn();
    const [current, ...others] = ENTITIES;
    renderAt(`/${current.plural}`);
    expect(screen.getByRole("link", { name: current.label }).getAttribute("aria-current")).toBe("page");
    for (const e of others) expect(screen.getByRole("link", { name: e.label }).getAttribute("aria-current")).toBeNull();
  });

  it("offers to log out exactly when the API needs a login", () => {
    loggedIn();
    renderAt("/");
    expect(screen.queryByRole("button", { name: "Log out" }) !== null).toBe(AUTH);
  });

  it("asks to log in first when the API needs it", () => {
    renderAt("/");
    expect(screen.queryByRole("heading", { name: "Log in" }) !== null).toBe(AUTH);
  });
});
