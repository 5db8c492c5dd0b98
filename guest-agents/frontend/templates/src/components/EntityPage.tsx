import { type FormEvent, useCallback, useEffect, useState } from "react";
import { api } from "../api";
import type { EntityMeta, FieldMeta, Row } from "../types";

type Values = Record<string, string | boolean>;

function emptyValues(meta: EntityMeta): Values {
  const values: Values = {};
  for (const f of meta.fields) values[f.name] = f.type === "boolean" ? false : "";
  for (const r of meta.references) values[r.field] = "";
  return values;
}

function toValues(meta: EntityMeta, row: Row): Values {
  const values = emptyValues(meta);
  for (const key of Object.keys(values)) {
    const v = row[key];
    if (typeof v === "boolean") values[key] = v;
    else if (v !== null && v !== undefined) values[key] = String(v).replace(/:00$/, "");
  }
  return values;
}

function convert(field: FieldMeta, value: string | boolean): unknown {
  if (field.type === "boolean") return Boolean(value);
  if (value === "") return null;
  if (field.type === "integer") return Number.parseInt(String(value), 10);
  if (field.type === "number") return Number.parseFloat(String(value));
  return value;
}

/** The request body for the form's values. */
export function toBody(meta: EntityMeta, values: Values): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const f of meta.fields) body[f.name] = convert(f, values[f.name]);
  for (const r of meta.references) body[r.field] = values[r.field] === "" ? null : Number(values[r.field]);
  return body;
}

const INPUT_TYPES: Record<string, string> = {
  integer: "number",
  number: "number",
  date: "date",
  datetime: "datetime-local",
  email: "email",
  string: "text",
};

function FieldInput({ field, value, onChange }: { field: FieldMeta; value: string | boolean; onChange: (v: string | boolean) => void }) {
  if (field.type === "boolean") {
    return <input type="checkbox" name={field.name} checked={Boolean(value)} onChange={(e) => onChange(e.target.checked)} />;
  }
  if (field.type === "text") {
    return <textarea name={field.name} value={String(value)} required={field.required} onChange={(e) => onChange(e.target.value)} />;
  }
  return (
    <input
      type={INPUT_TYPES[field.type] ?? "text"}
      name={field.name}
      step={field.type === "number" ? "any" : undefined}
      value={String(value)}
      required={field.required}
      onChange={(e) => onChange(e.target.value)}
    />
  );
}

function label(name: string): string {
  const words = name.replace(/_id$/, "").replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** List, create, edit and delete rows of one entity. */
export default function EntityPage({ meta }: { meta: EntityMeta }) {
  const [rows, setRows] = useState<Row[]>([]);
  const [choices, setChoices] = useState<Record<string, Row[]>>({});
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [values, setValues] = useState<Values>(() => emptyValues(meta));
  const [editing, setEditing] = useState<number | null>(null);

  const load = useCallback(async () => {
    setLoading(true);
    setError(null);
    try {
      setRows(await api.list(meta.plural));
      const lists: Record<string, Row[]> = {};
      for (const r of meta.references) lists[r.field] = await api.list(r.target);
      setChoices(lists);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setLoading(false);
    }
  }, [meta]);

  useEffect(() => {
    void load();
  }, [load]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      const body = toBody(meta, values);
      if (editing === null) await api.create(meta.plural, body);
      else await api.update(meta.plural, editing, body);
      setValues(emptyValues(meta));
      setEditing(null);
      await load();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }

  async function remove(id: number) {
    setError(null);
    try {
      await api.remove(meta.plural, id);
      await load();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }

  const columns = [...meta.fields.map((f) => f.name), ...meta.references.map((r) => r.field)];
  return (
    <section>
      <h2>{meta.label}</h2>
      {error && <p role="alert">{error}</p>}
      {loading ? (
        <p>Loading…</p>
      ) : rows.length === 0 ? (
        <p>No {meta.label.toLowerCase()} yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              {columns.map((c) => (
                <th key={c}>{label(c)}</th>
              ))}
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.id}>
                {columns.map((c) => (
                  <td key={c}>{typeof row[c] === "boolean" ? (row[c] ? "yes" : "no") : String(row[c] ?? "")}</td>
                ))}
                <td>
                  <button
                    type="button"
                    onClick={() => {
                      setEditing(row.id);
                      setValues(toValues(meta, row));
                    }}
                  >
                    Edit
                  </button>
                  <button type="button" onClick={() => void remove(row.id)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form onSubmit={submit} aria-label={editing === null ? `New ${meta.name}` : `Edit ${meta.name}`}>
        <h3>{editing === null ? `New ${meta.name}` : `Edit ${meta.name} #${editing}`}</h3>
        {meta.fields.map((f) => (
          <label key={f.name}>
            {label(f.name)}
            <FieldInput field={f} value={values[f.name]} onChange={(v) => setValues((old) => ({ ...old, [f.name]: v }))} />
          </label>
        ))}
        {meta.references.map((r) => (
          <label key={r.field}>
            {label(r.field)}
            <select
              name={r.field}
              value={String(values[r.field])}
              required={r.required}
              onChange={(e) => setValues((old) => ({ ...old, [r.field]: e.target.value }))}
            >
              <option value="">—</option>
              {(choices[r.field] ?? []).map((c) => (
                <option key={c.id} value={c.id}>
                  #{c.id}
                </option>
              ))}
            </select>
          </label>
        ))}
        <button type="submit">{editing === null ? "Create" : "Save"}</button>
        {editing !== null && (
          <button
            type="button"
            onClick={() => {
              setEditing(null);
              setValues(emptyValues(meta));
            }}
          >
            Cancel
          </button>
        )}
      </form>
    </section>
  );
}
