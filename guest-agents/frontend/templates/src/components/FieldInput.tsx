import type { FieldMeta } from "../types";
import type { Value } from "../form";
import { humanize } from "../format";

const INPUT_TYPES: Partial<Record<FieldMeta["type"], string>> = {
  integer: "number",
  number: "number",
  decimal: "number",
  date: "date",
  datetime: "datetime-local",
  email: "email",
  url: "url",
};

const STEPS: Partial<Record<FieldMeta["type"], string>> = { integer: "1", number: "any", decimal: "0.01" };

const PLACEHOLDERS: Partial<Record<FieldMeta["type"], string>> = {
  email: "name@example.com",
  url: "https://",
  decimal: "0.00",
};

/** The props every control of the form shares: its id, name, whether it is
 * required and the id of its message when it has one. */
export interface ControlProps {
  id: string;
  name: string;
  required: boolean;
  errorId?: string;
}

/** The attributes of a control: its id and name, and for assistive
 * technology whether it is required, invalid and where its message is. */
export function a11y({ id, name, required, errorId }: ControlProps) {
  return { id, name, "aria-required": required, "aria-invalid": errorId !== undefined, "aria-describedby": errorId };
}

/** The input that fits a field's type and rules: a checkbox, a text area, a
 * select of the choices, or an input with its range and step. */
export default function FieldInput({
  field,
  value,
  onChange,
  ...control
}: ControlProps & { field: FieldMeta; value: Value; onChange: (v: Value) => void }) {
  if (field.type === "boolean") {
    return <input type="checkbox" {...a11y(control)} checked={Boolean(value)} onChange={(e) => onChange(e.target.checked)} />;
  }
  if (field.type === "text") {
    return <textarea rows={4} {...a11y(control)} value={String(value)} onChange={(e) => onChange(e.target.value)} />;
  }
  if (field.type === "enum") {
    return (
      <select {...a11y(control)} value={String(value)} onChange={(e) => onChange(e.target.value)}>
        <option value="">{field.required ? "Choose…" : "—"}</option>
        {(field.choices ?? []).map((c) => (
          <option key={c} value={c}>
            {humanize(c)}
          </option>
        ))}
      </select>
    );
  }
  return (
    <input
      type={INPUT_TYPES[field.type] ?? "text"}
      {...a11y(control)}
      inputMode={field.type === "decimal" ? "decimal" : undefined}
      step={STEPS[field.type]}
      min={field.min}
      max={field.max}
      placeholder={PLACEHOLDERS[field.type]}
      value={String(value)}
      onChange={(e) => onChange(e.target.value)}
    />
  );
}
