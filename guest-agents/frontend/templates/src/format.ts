/** How values read on screen: labels, numbers, money, dates and row names. */
import type { EntityMeta, FieldMeta, Row } from "./types";

/** `in_progress` → `In progress`. */
export function humanize(text: string): string {
  const words = text.replace(/_/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Words a label writes in capitals. */
const ACRONYMS = new Set(["url", "isbn", "sku", "vat", "ip", "api", "id"]);

/** A field's label: `customer_id` → `Customer`, `website_url` → `Website URL`. */
export function fieldLabel(name: string): string {
  const words = name
    .replace(/_id$/, "")
    .split("_")
    .map((w) => (ACRONYMS.has(w) ? w.toUpperCase() : w));
  return humanize(words.join("_"));
}

const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 6 });
const day = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const moment = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A date (`2026-01-15`) as that calendar day where the user is, never the day before. */
export function parseDay(text: string): Date | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text);
  return m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : null;
}

function formatNumber(value: unknown, format: Intl.NumberFormat): string {
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? format.format(n) : String(value);
}

function formatMoment(value: unknown): string {
  const d = new Date(String(value));
  return Number.isNaN(d.getTime()) ? String(value) : moment.format(d);
}

/** A field's value as text in the user's locale; empty when there is none. */
export function formatValue(field: FieldMeta, value: unknown): string {
  if (value === null || value === undefined || value === "") return "";
  switch (field.type) {
    case "decimal":
      return formatNumber(value, money);
    case "number":
      return formatNumber(value, decimal);
    case "date": {
      const d = parseDay(String(value));
      return d ? day.format(d) : String(value);
    }
    case "datetime":
      return formatMoment(value);
    case "enum":
      return humanize(String(value));
    case "boolean":
      return value ? "Yes" : "No";
    default:
      return String(value);
  }
}

/** The fields in the order the page shows them: the one that names a row first. */
export function orderedFields(meta: EntityMeta): FieldMeta[] {
  const named = meta.fields.filter((f) => f.name === meta.display);
  return [...named, ...meta.fields.filter((f) => f.name !== meta.display)];
}

/** What names a row of a reference's target: its display field, else its id. */
export function targetName(display: string | null, row: Row): string {
  const v = display ? row[display] : null;
  return v === null || v === undefined || v === "" ? `#${row.id}` : String(v);
}

/** Names of the rows references point at: by target route name, then id. */
export type Names = Record<string, Map<number, string>>;

/** The name a row goes by: its display field, else the names of the rows it
 * links (as for a join entity), else its id. */
export function rowName(meta: EntityMeta, row: Row, names: Names): string {
  const own = meta.display ? row[meta.display] : null;
  if (own !== null && own !== undefined && own !== "") return String(own);
  const linked = meta.references
    .map((r) => names[r.target]?.get(Number(row[r.field])))
    .filter((n): n is string => n !== undefined);
  if (linked.length > 0) return linked.join(" · ");
  return `${humanize(meta.singular)} #${row.id}`;
}
