import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import type { ComponentType } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { entity } from "../spec";
import type { EntityMeta, FieldMeta } from "../types";

/** What to type into a field, and what the API should receive for it. */
export function sample(field: FieldMeta): [string | boolean, unknown] {
  switch (field.type) {
    case "integer":
      return ["3", 3];
    case "number":
      return ["9.5", 9.5];
    case "boolean":
      return [true, true];
    case "date":
      return ["2026-01-15", "2026-01-15"];
    case "datetime":
      return ["2026-01-15T10:30", "2026-01-15T10:30"];
    case "email":
      return ["someone@example.com", "someone@example.com"];
    default:
      return [`Sample ${field.name}`, `Sample ${field.name}`];
  }
}

function row(meta: EntityMeta, id: number): Record<string, unknown> {
  const r: Record<string, unknown> = { id };
  for (const f of meta.fields) r[f.name] = sample(f)[1];
  for (const ref of meta.references) r[ref.field] = null;
  return r;
}

type Call = { url: string; method: string; body: unknown };

/** The behaviours every entity page must have. */
export function entityPageSuite(plural: string, Page: ComponentType) {
  const meta = entity(plural);
  describe(`${meta.name} page`, () => {
    let calls: Call[];
    let rows: Record<string, unknown>[];
    let failWith: number | null;

    beforeEach(() => {
      calls = [];
      rows = [row(meta, 1)];
      failWith = null;
      vi.stubGlobal(
        "fetch",
        vi.fn(async (url: string, init?: RequestInit) => {
          const method = init?.method ?? "GET";
          const body = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
          calls.push({ url, method, body });
          if (failWith !== null) return Response.json({ detail: "the server said no" }, { status: failWith });
          if (method === "GET") return Response.json(url === `/api/${plural}` ? rows : []);
          if (method === "DELETE") return new Response(null, { status: 204 });
          return Response.json({ id: 2, ...body }, { status: method === "POST" ? 201 : 200 });
        }),
      );
    });

    afterEach(() => {
      cleanup();
      vi.unstubAllGlobals();
    });

    it("lists the rows from the API", async () => {
      render(<Page />);
      expect(screen.getByText("Loading…")).toBeTruthy();
      expect(await screen.findAllByText("Delete")).toHaveLength(1);
      expect(calls[0]).toMatchObject({ url: `/api/${plural}`, method: "GET" });
    });

    it("says when there is nothing yet", async () => {
      rows = [];
      render(<Page />);
      expect(await screen.findByText(new RegExp(`No ${meta.label.toLowerCase()} yet`))).toBeTruthy();
    });

    it("creates a row from the form", async () => {
      const { container } = render(<Page />);
      await screen.findAllByText("Delete");
      const expected: Record<string, unknown> = {};
      for (const f of meta.fields) {
        const [typed, sent] = sample(f);
        const input = container.querySelector(`form [name="${f.name}"]`) as HTMLInputElement;
        if (f.type === "boolean") fireEvent.click(input);
        else fireEvent.change(input, { target: { value: typed } });
        expected[f.name] = sent;
      }
      fireEvent.submit(container.querySelector("form")!);
      await waitFor(() => expect(calls.some((c) => c.method === "POST")).toBe(true));
      const post = calls.find((c) => c.method === "POST")!;
      expect(post.url).toBe(`/api/${plural}`);
      expect(post.body).toMatchObject(expected);
    });

    it("edits a row", async () => {
      const { container } = render(<Page />);
      fireEvent.click(await screen.findByText("Edit"));
      expect(screen.getByText(`Edit ${meta.name} #1`)).toBeTruthy();
      fireEvent.submit(container.querySelector("form")!);
      await waitFor(() => expect(calls.some((c) => c.method === "PUT")).toBe(true));
      expect(calls.find((c) => c.method === "PUT")!.url).toBe(`/api/${plural}/1`);
    });

    it("deletes a row", async () => {
      render(<Page />);
      fireEvent.click(await screen.findByText("Delete"));
      await waitFor(() => expect(calls.some((c) => c.method === "DELETE")).toBe(true));
      expect(calls.find((c) => c.method === "DELETE")!.url).toBe(`/api/${plural}/1`);
    });

    it("shows the server's error", async () => {
      failWith = 500;
      render(<Page />);
      expect((await screen.findByRole("alert")).textContent).toContain("the server said no");
    });
  });
}
