import { describe, expect, it } from "vitest";
import { fieldError } from "../form";
import { fieldLabel, formatValue, humanize, rowName } from "../format";
import type { EntityMeta, FieldMeta } from "../types";

const field = (type: FieldMeta["type"]): FieldMeta => ({ name: "x", type, required: false });

describe("format", () => {
  it("writes money with two decimals, from a number or the backend's string", () => {
    const two = (n: number) => n.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    expect(formatValue(field("decimal"), 12.5)).toBe(two(12.5));
    expect(formatValue(field("decimal"), "1234.00")).toBe(two(1234));
  });

  it("labels a field in words, a foreign key by what it points at", () => {
    expect(fieldLabel("website_url")).toBe("Website URL");
    expect(fieldLabel("customer_id")).toBe("Customer");
  });

  it("reads choices as words", () => {
    expect(humanize("in_progress")).toBe("In progress");
    expect(formatValue(field("enum"), "out_of_stock")).toBe("Out of stock");
  });

  it("shows a date as that day in the user's locale", () => {
    const day = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" }).format(new Date(2026, 2, 1));
    expect(formatValue(field("date"), "2026-03-01")).toBe(day);
  });

  it("names a row of a join entity by the rows it links", () => {
    const meta: EntityMeta = {
      name: "Bookmark",
      plural: "bookmarks",
      label: "Bookmarks",
      singular: "bookmark",
      display: null,
      fields: [],
      references: [
        { field: "attendee_id", target: "attendees", required: true, display: "name" },
        { field: "talk_id", target: "talks", required: true, display: "title" },
      ],
    };
    const names = { attendees: new Map([[1, "Ada"]]), talks: new Map([[2, "Rust in production"]]) };
    expect(rowName(meta, { id: 9, attendee_id: 1, talk_id: 2 }, names)).toBe("Ada · Rust in production");
  });

  it("takes only web addresses for a url", () => {
    expect(fieldError(field("url"), "https://example.com")).toBeNull();
    expect(fieldError(field("url"), "javascript:alert(1)")).not.toBeNull();
  });
});
