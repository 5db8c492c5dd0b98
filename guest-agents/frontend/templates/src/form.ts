/** The entity form's values: from a row, checked against the spec's rules,
 * and turned into the request body. */
import type { EntityMeta, FieldMeta, Row } from "./types";
import { fieldLabel, humanize, orderedFields } from "./format";

export type Value = string | boolean;
export type Values = Record<string, Value>;
/** A message for each field that is not right, by field name. */
export type Errors = Record<string, string>;

export function emptyValues(meta: EntityMeta): Values {
  const values: Values = {};
  for (const f of meta.fields) values[f.name] = f.type === "boolean" ? false : "";
  for (const r of meta.references) values[r.field] = "";
  return values;
}

function inputValue(field: FieldMeta | undefined, v: unknown): Value {
  if (typeof v === "boolean") return v;
  if (v === null || v === undefined) return "";
  const text = String(v);
  if (field?.type === "datetime") return text.slice(0, 16);
  if (field?.type === "date") return text.slice(0, 10);
  return text;
}

/** The form's values for editing a row. */
export function toValues(meta: EntityMeta, row: Row): Values {
  const values = emptyValues(meta);
  for (const key of Object.keys(values)) {
    values[key] = inputValue(
      meta.fields.find((f) => f.name === key),
      row[key],
    );
  }
  return values;
}

function convert(field: FieldMeta, value: Value): unknown {
  if (field.type === "boolean") return Boolean(value);
  const text = String(value).trim();
  if (text === "") return null;
  if (field.type === "integer") return Number.parseInt(text, 10);
  if (field.type === "number" || field.type === "decimal") return Number(text);
  return String(value);
}

/** The request body for the form's values. */
export function toBody(meta: EntityMeta, values: Values): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const f of meta.fields) body[f.name] = convert(f, values[f.name]);
  for (const r of meta.references) body[r.field] = values[r.field] === "" ? null : Number(values[r.field]);
  return body;
}

function rangeError(field: FieldMeta, n: number): string | null {
  const { min, max } = field;
  if ((min === undefined || n >= min) && (max === undefined || n <= max)) return null;
  if (min !== undefined && max !== undefined) return `Must be between ${min} and ${max}`;
  return min !== undefined ? `Must be at least ${min}` : `Must be at most ${max}`;
}

function numberError(field: FieldMeta, text: string): string | null {
  const n = Number(text);
  if (!Number.isFinite(n)) return "Enter a number";
  if (field.type === "integer" && !Number.isInteger(n)) return "Enter a whole number";
  if (field.type === "decimal" && !/^-?\d*(\.\d{0,2})?$/.test(text)) return "Use at most two decimal places";
  return rangeError(field, n);
}

function isWebAddress(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

/** What is wrong with a field's value, if anything. */
export function fieldError(field: FieldMeta, value: Value): string | null {
  if (field.type === "boolean") return null;
  const text = String(value).trim();
  if (text === "") return field.required ? "This field is required" : null;
  switch (field.type) {
    case "integer":
    case "number":
    case "decimal":
      return numberError(field, text);
    case "enum":
      return (field.choices ?? []).includes(text)
        ? null
        : `Choose one of: ${(field.choices ?? []).map(humanize).join(", ")}`;
    case "email":
      return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(text) ? null : "Enter an email address, such as name@example.com";
    case "url":
      return isWebAddress(text) ? null : "Enter a web address starting with https://";
    default:
      return null;
  }
}

/** Every rule the spec sets that the values break (required, range, choices,
 * formats), in the order the form shows the fields. */
export function validate(meta: EntityMeta, values: Values): Errors {
  const errors: Errors = {};
  for (const f of orderedFields(meta)) {
    const error = fieldError(f, values[f.name]);
    if (error) errors[f.name] = error;
  }
  for (const r of meta.references) {
    if (r.required && values[r.field] === "") errors[r.field] = `Choose the ${fieldLabel(r.field).toLowerCase()}`;
  }
  return errors;
}
