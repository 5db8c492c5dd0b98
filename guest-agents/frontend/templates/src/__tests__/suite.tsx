import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import type { ComponentType } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { entity } from "../spec";
import type { EntityMeta, FieldMeta } from "../types";

/** The rules the spec sets for an entity, written into its test file so that
 * a rule the page stops honouring fails a test of its own. */
export interface Rules {
  /** Fields and foreign keys that must have a value. */
  required: string[];
  /** Numeric fields with a smallest or largest value. */
  ranges: Record<string, { min?: number; max?: number }>;
  /** `enum` fields and the values they take, in order. */
  choices: Record<string, string[]>;
  /** Foreign keys: the route of the rows they point at and the field that names those rows. */
  references: Record<string, { target: string; display: string | null }>;
}

/** The id of the one row of each referenced entity. */
const PARENT_ID = 7;

function clamp(field: FieldMeta, value: number): number {
  if (field.min !== undefined && value < field.min) return field.min;
  if (field.max !== undefined && value > field.max) return field.max;
  return value;
}

/** What to type into a field, and what the API should receive for it. */
export function sample(field: FieldMeta): [string | boolean, unknown] {
  switch (field.type) {
    case "integer":
    case "number":
    case "decimal": {
      const n = clamp(field, { integer: 3, number: 9.5, decimal: 12.5 }[field.type]);
      return [String(n), n];
    }
    case "boolean":
      return [true, true];
    case "date":
      return ["2026-01-15", "2026-01-15"];
    case "datetime":
      return ["2026-01-15T10:30", "2026-01-15T10:30"];
    case "email":
      return ["someone@example.com", "someone@example.com"];
    case "url":
      return ["https://example.com/page", "https://example.com/page"];
    case "enum": {
      const last = field.choices![field.choices!.length - 1];
      return [last, last];
    }
    default:
      return [`Sample ${field.name}`, `Sample ${field.name}`];
  }
}

/** The control each type of field is edited with, and the step of numbers. */
const CONTROLS: Record<FieldMeta["type"], string> = {
  string: "text",
  text: "textarea",
  integer: "number",
  number: "number",
  decimal: "number",
  boolean: "checkbox",
  date: "date",
  datetime: "datetime-local",
  email: "email",
  url: "url",
  enum: "select",
};
const STEPS: Partial<Record<FieldMeta["type"], string>> = { integer: "1", decimal: "0.01" };

function kind(element: Element): string {
  return element instanceof HTMLInputElement ? element.type : element.tagName.toLowerCase();
}

/** A choice in words: `in_progress` → `In progress`. */
function words(choice: string): string {
  const text = choice.replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** How the list shows a field's sample value. */
function shown(field: FieldMeta): string {
  const value = sample(field)[1];
  switch (field.type) {
    case "decimal":
      return (value as number).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    case "number":
      return (value as number).toLocaleString(undefined, { maximumFractionDigits: 6 });
    case "boolean":
      return "✓";
    case "date":
      return new Intl.DateTimeFormat(undefined, { dateStyle: "medium" }).format(new Date(2026, 0, 15));
    case "datetime":
      return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }).format(
        new Date(2026, 0, 15, 10, 30),
      );
    case "enum":
      return words(String(value));
    case "url":
      return "example.com/page";
    default:
      return String(value);
  }
}

/** The name the one row of a reference's target goes by. */
function parentName(ref: Rules["references"][string]): string {
  return ref.display === null ? `#${PARENT_ID}` : `The ${ref.target} row`;
}

function row(meta: EntityMeta, id: number): Record<string, unknown> {
  const r: Record<string, unknown> = { id };
  for (const f of meta.fields) r[f.name] = sample(f)[1];
  for (const ref of meta.references) r[ref.field] = PARENT_ID;
  return r;
}

function control(container: HTMLElement, name: string): HTMLInputElement {
  const found = container.querySelector(`form [name="${name}"]`);
  if (!found) throw new Error(`the form has no control named ${name}`);
  return found as HTMLInputElement;
}

/** The message shown next to a control (the one it is described by). */
function messageFor(container: HTMLElement, name: string): string | null {
  const id = control(container, name).getAttribute("aria-describedby");
  return id ? (document.getElementById(id)?.textContent ?? null) : null;
}

/** The text of a column in the list's first row. */
function cell(container: HTMLElement, name: string): string {
  const found = container.querySelector(`tbody td[data-field="${name}"]`);
  if (!found) throw new Error(`the list has no ${name} column`);
  return found.textContent ?? "";
}

type Call = { url: string; method: string; body: unknown };

/** The behaviours every entity page must have, and one test for each rule. */
export function entityPageSuite(plural: string, Page: ComponentType, rules: Rules) {
  const meta = entity(plural);
  describe(`${meta.name} page`, () => {
    let calls: Call[];
    let rows: Record<string, unknown>[];
    let failWith: number | null;
    let answer: { status: number; body: unknown } | null;
    let hold: Promise<void> | null;

    const sent = (method: string) => calls.filter((c) => c.method === method);

    /** Fills the form with valid values, leaving `except` empty. */
    function fill(container: HTMLElement, except?: string): Record<string, unknown> {
      const expected: Record<string, unknown> = {};
      for (const f of meta.fields) {
        if (f.name === except) continue;
        const [typed, value] = sample(f);
        const input = control(container, f.name);
        if (f.type === "boolean") fireEvent.click(input);
        else fireEvent.change(input, { target: { value: typed } });
        expected[f.name] = value;
      }
      for (const r of meta.references) {
        if (r.field === except) continue;
        fireEvent.change(control(container, r.field), { target: { value: String(PARENT_ID) } });
        expected[r.field] = PARENT_ID;
      }
      return expected;
    }

    async function rendered() {
      const view = render(<Page />);
      await screen.findAllByRole("button", { name: /^Delete / });
      return view.container;
    }

    beforeEach(() => {
      calls = [];
      rows = [row(meta, 1)];
      failWith = null;
      answer = null;
      hold = null;
      vi.stubGlobal(
        "fetch",
        vi.fn(async (url: string, init?: RequestInit) => {
          const method = init?.method ?? "GET";
          const body = typeof init?.body === "string" ? JSON.parse(init.body) : undefined;
          calls.push({ url, method, body });
          if (failWith !== null) return Response.json({ detail: "the server said no" }, { status: failWith });
          if (method === "GET") {
            if (url === `/api/${plural}`) return Response.json(rows);
            const ref = Object.values(rules.references).find((r) => url === `/api/${r.target}`);
            if (!ref) return Response.json([]);
            return Response.json([ref.display === null ? { id: PARENT_ID } : { id: PARENT_ID, [ref.display]: parentName(ref) }]);
          }
          if (method === "DELETE") return new Response(null, { status: 204 });
          if (hold) await hold;
          if (answer) return Response.json(answer.body, { status: answer.status });
          return Response.json({ id: 2, ...body }, { status: method === "POST" ? 201 : 200 });
        }),
      );
    });

    afterEach(() => {
      cleanup();
      vi.unstubAllGlobals();
    });

    it("lists the rows from the API, formatted", async () => {
      const view = render(<Page />);
      expect(screen.getByText("Loading…")).toBeTruthy();
      expect(await screen.findAllByRole("button", { name: /^Delete / })).toHaveLength(1);
      expect(calls[0]).toMatchObject({ url: `/api/${plural}`, method: "GET" });
      for (const f of meta.fields) expect(cell(view.container, f.name)).toBe(shown(f));
    });

    it("says when there is nothing yet", async () => {
      rows = [];
      render(<Page />);
      expect(await screen.findByText(new RegExp(`No ${meta.label.toLowerCase()} yet — create the first one`))).toBeTruthy();
    });

    it("shows the server's error when the list cannot be loaded", async () => {
      failWith = 500;
      render(<Page />);
      expect((await screen.findByRole("alert")).textContent).toContain("the server said no");
    });

    it("creates a row from the form, each field in the control that fits its type", async () => {
      const container = await rendered();
      for (const f of meta.fields) {
        expect([f.name, kind(control(container, f.name))]).toEqual([f.name, CONTROLS[f.type]]);
        if (STEPS[f.type]) expect(control(container, f.name).getAttribute("step")).toBe(STEPS[f.type]);
      }
      for (const r of meta.references) expect(kind(control(container, r.field))).toBe("select");
      const expected = fill(container);
      fireEvent.submit(container.querySelector("form")!);
      await waitFor(() => expect(sent("POST")).toHaveLength(1));
      expect(sent("POST")[0].url).toBe(`/api/${plural}`);
      expect(sent("POST")[0].body).toMatchObject(expected);
    });

    it("disables the button while saving and confirms once saved", async () => {
      let release = () => {};
      hold = new Promise((resolve) => (release = resolve));
      const container = await rendered();
      fill(container);
      fireEvent.submit(container.querySelector("form")!);
      const button = (await screen.findByRole("button", { name: "Saving…" })) as HTMLButtonElement;
      expect(button.disabled).toBe(true);
      release();
      expect(await screen.findByText("Saved")).toBeTruthy();
    });

    it("edits a row", async () => {
      const container = await rendered();
      fireEvent.click(screen.getByRole("button", { name: /^Edit / }));
      expect(screen.getByRole("heading", { name: /^Edit / })).toBeTruthy();
      fireEvent.submit(container.querySelector("form")!);
      await waitFor(() => expect(sent("PUT")).toHaveLength(1));
      const { id: _, ...expected } = row(meta, 1);
      expect(sent("PUT")[0]).toMatchObject({ url: `/api/${plural}/1`, body: expected });
    });

    it("deletes a row once the deletion is confirmed", async () => {
      await rendered();
      fireEvent.click(screen.getByRole("button", { name: /^Delete / }));
      const dialog = screen.getByRole("alertdialog");
      expect(sent("DELETE")).toHaveLength(0);
      fireEvent.click(within(dialog).getByRole("button", { name: "Delete" }));
      await waitFor(() => expect(sent("DELETE")).toHaveLength(1));
      expect(sent("DELETE")[0].url).toBe(`/api/${plural}/1`);
    });

    it("keeps the row when the deletion is cancelled", async () => {
      await rendered();
      fireEvent.click(screen.getByRole("button", { name: /^Delete / }));
      fireEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Cancel" }));
      expect(screen.queryByRole("alertdialog")).toBeNull();
      expect(sent("DELETE")).toHaveLength(0);
    });

    it("shows the server's 422 detail next to its field", async () => {
      const target = meta.fields[0]?.name ?? meta.references[0].field;
      answer = { status: 422, body: { detail: [{ loc: ["body", target], msg: "Rejected by the server", type: "value_error" }] } };
      const container = await rendered();
      fill(container);
      fireEvent.submit(container.querySelector("form")!);
      await waitFor(() => expect(messageFor(container, target)).toBe("Rejected by the server"));
      expect(screen.queryByText("Saved")).toBeNull();
    });

    it("shows a conflict as a message", async () => {
      answer = { status: 409, body: { detail: `That ${meta.singular} already exists` } };
      const container = await rendered();
      fill(container);
      fireEvent.submit(container.querySelector("form")!);
      expect((await screen.findByRole("alert")).textContent).toContain(`That ${meta.singular} already exists`);
    });

    for (const name of rules.required) {
      it(`refuses to send it without ${name}`, async () => {
        const container = await rendered();
        fill(container, name);
        fireEvent.submit(container.querySelector("form")!);
        expect(messageFor(container, name)).toMatch(/required|choose/i);
        expect(sent("POST")).toHaveLength(0);
      });
    }

    for (const [name, { min, max }] of Object.entries(rules.ranges)) {
      it(`keeps ${name} within its range`, async () => {
        const container = await rendered();
        const input = control(container, name);
        expect(input.getAttribute("min")).toBe(min === undefined ? null : String(min));
        expect(input.getAttribute("max")).toBe(max === undefined ? null : String(max));
        fill(container);
        const outside = min !== undefined ? min - 1 : max! + 1;
        fireEvent.change(input, { target: { value: String(outside) } });
        fireEvent.submit(container.querySelector("form")!);
        expect(messageFor(container, name)).toContain(String(min ?? max));
        expect(sent("POST")).toHaveLength(0);
      });
    }

    for (const [name, choices] of Object.entries(rules.choices)) {
      it(`offers exactly the choices of ${name}`, async () => {
        const container = await rendered();
        const options = [...control(container, name).querySelectorAll("option")].filter((o) => o.value !== "");
        expect(options.map((o) => [o.value, o.textContent])).toEqual(choices.map((c) => [c, words(c)]));
      });
    }

    for (const [name, ref] of Object.entries(rules.references)) {
      it(`fills the ${name} select from /api/${ref.target} by name`, async () => {
        const container = await rendered();
        expect(calls.some((c) => c.method === "GET" && c.url === `/api/${ref.target}`)).toBe(true);
        const options = [...control(container, name).querySelectorAll("option")].filter((o) => o.value !== "");
        expect(options.map((o) => [o.value, o.textContent])).toEqual([[String(PARENT_ID), parentName(ref)]]);
      });

      it(`lists ${name} by the name of the row it points at`, async () => {
        const container = await rendered();
        expect(cell(container, name)).toBe(parentName(ref));
      });
    }
  });
}
