import { type FormEvent, type ReactNode, type Ref, useState } from "react";
import { ApiError, api } from "../api";
import { type Errors, type Value, emptyValues, toBody, toValues, validate } from "../form";
import { fieldLabel, humanize, orderedFields, targetName } from "../format";
import { message } from "../useEntity";
import type { EntityMeta, ReferenceMeta, Row } from "../types";
import FieldInput, { type ControlProps, a11y } from "./FieldInput";

/** A labelled control with its message under it when the value is not right. */
function Field({
  id,
  label,
  required,
  error,
  className,
  children,
}: {
  id: string;
  label: string;
  required: boolean;
  error?: string;
  className?: string;
  children: ReactNode;
}) {
  return (
    <div className={["field", className, error ? "invalid" : null].filter(Boolean).join(" ")}>
      <label htmlFor={id}>
        {label}
        {required && (
          <span className="required" aria-hidden="true">
            {" "}
            *
          </span>
        )}
      </label>
      {children}
      {error && (
        <p id={`${id}-error`} className="field-error">
          {error}
        </p>
      )}
    </div>
  );
}

/** A select of the rows a reference may point at, by their names. */
function ReferenceSelect({
  reference,
  rows,
  value,
  onChange,
  ...control
}: ControlProps & { reference: ReferenceMeta; rows: Row[]; value: Value; onChange: (v: Value) => void }) {
  return (
    <>
      <select {...a11y(control)} value={String(value)} onChange={(e) => onChange(e.target.value)}>
        <option value="">{control.required ? "Choose…" : "—"}</option>
        {rows.map((row) => (
          <option key={row.id} value={row.id}>
            {targetName(reference.display, row)}
          </option>
        ))}
      </select>
      {rows.length === 0 && (
        <p className="field-hint">
          No {humanize(reference.target).toLowerCase()} yet — <a href={`/${reference.target}`}>add one first</a>
        </p>
      )}
    </>
  );
}

/** How a field sits in the grid: a text area takes the whole row, a
 * checkbox sits beside its label. */
function wideness(type: string): string | undefined {
  if (type === "text") return "wide";
  if (type === "boolean") return "check";
  return undefined;
}

/** What went wrong on saving: the backend's 422 messages for the form's own
 * fields, and one message for everything else (a 409, a 500, the rest of a 422). */
function failure(meta: EntityMeta, e: unknown): [Errors, string | null] {
  if (!(e instanceof ApiError) || e.status !== 422) return [{}, message(e)];
  const known = new Set([...meta.fields.map((f) => f.name), ...meta.references.map((r) => r.field)]);
  const errors: Errors = {};
  for (const [name, msg] of Object.entries(e.fields)) if (known.has(name)) errors[name] = msg;
  return Object.keys(errors).length > 0 ? [errors, null] : [{}, e.message];
}

/** Creates a row, or edits `editing`: labelled fields checked against the
 * spec's rules before anything is sent, the server's messages next to their
 * fields, a saving state and a confirmation once saved. */
export default function EntityForm({
  meta,
  lists,
  editing,
  editingName,
  saved,
  formRef,
  onSaved,
  onCancel,
}: {
  meta: EntityMeta;
  lists: Record<string, Row[]>;
  editing: Row | null;
  editingName: string;
  saved: boolean;
  formRef?: Ref<HTMLFormElement>;
  onSaved: () => void;
  onCancel: () => void;
}) {
  const [values, setValues] = useState(() => (editing ? toValues(meta, editing) : emptyValues(meta)));
  const [errors, setErrors] = useState<Errors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const id = (name: string) => `${meta.plural}-${name}`;

  function change(name: string, value: Value) {
    setValues((old) => ({ ...old, [name]: value }));
    setErrors((old) => {
      const rest = { ...old };
      delete rest[name];
      return rest;
    });
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    const found = validate(meta, values);
    setErrors(found);
    setFormError(null);
    const first = Object.keys(found)[0];
    if (first !== undefined) {
      document.getElementById(id(first))?.focus();
      return;
    }
    setSaving(true);
    try {
      const body = toBody(meta, values);
      if (editing) await api.update(meta.plural, editing.id, body);
      else await api.create(meta.plural, body);
      setValues(emptyValues(meta));
      onSaved();
    } catch (e) {
      const [fieldErrors, general] = failure(meta, e);
      setErrors(fieldErrors);
      setFormError(general);
    } finally {
      setSaving(false);
    }
  }

  const control = (name: string, required: boolean): ControlProps => ({
    id: id(name),
    name,
    required,
    errorId: errors[name] ? `${id(name)}-error` : undefined,
  });
  const heading = editing ? `Edit ${editingName}` : `New ${meta.singular}`;
  return (
    <form ref={formRef} className="card form" onSubmit={submit} noValidate aria-label={heading}>
      <h3>{heading}</h3>
      <div className="form-grid">
        {orderedFields(meta).map((f) => (
          <Field
            key={f.name}
            id={id(f.name)}
            label={fieldLabel(f.name)}
            required={f.required}
            error={errors[f.name]}
            className={wideness(f.type)}
          >
            <FieldInput field={f} value={values[f.name]} onChange={(v) => change(f.name, v)} {...control(f.name, f.required)} />
          </Field>
        ))}
        {meta.references.map((r) => (
          <Field key={r.field} id={id(r.field)} label={fieldLabel(r.field)} required={r.required} error={errors[r.field]}>
            <ReferenceSelect
              reference={r}
              rows={lists[r.target] ?? []}
              value={values[r.field]}
              onChange={(v) => change(r.field, v)}
              {...control(r.field, r.required)}
            />
          </Field>
        ))}
      </div>
      {formError && (
        <div role="alert" className="alert">
          {formError}
        </div>
      )}
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={saving}>
          {saving ? "Saving…" : editing ? "Save changes" : `Create ${meta.singular}`}
        </button>
        {editing && (
          <button type="button" className="btn btn-secondary" onClick={onCancel} disabled={saving}>
            Cancel
          </button>
        )}
        {saved && !saving && (
          <p role="status" className="saved">
            Saved
          </p>
        )}
      </div>
    </form>
  );
}
