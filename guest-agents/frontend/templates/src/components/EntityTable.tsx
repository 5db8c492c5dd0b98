import type { EntityMeta, FieldMeta, Row } from "../types";
import { type Names, fieldLabel, formatValue, orderedFields, rowName } from "../format";

const NUMERIC = new Set(["integer", "number", "decimal"]);
const DATES = new Set(["date", "datetime"]);

function cellClass(field: FieldMeta): string | undefined {
  if (NUMERIC.has(field.type)) return "num";
  return DATES.has(field.type) ? "nowrap" : undefined;
}

function isWebAddress(text: string): boolean {
  return /^https?:\/\//i.test(text);
}

/** A field's value as a table cell: ticks for booleans, a badge for a
 * choice, links for web and email addresses, formatted text otherwise. */
function Value({ field, value }: { field: FieldMeta; value: unknown }) {
  if (value === null || value === undefined || value === "") return <span className="none">—</span>;
  if (field.type === "boolean") {
    return value ? (
      <span className="tick" role="img" aria-label="Yes">
        ✓
      </span>
    ) : (
      <span className="cross" role="img" aria-label="No">
        ✗
      </span>
    );
  }
  const text = formatValue(field, value);
  if (field.type === "enum") return <span className="badge">{text}</span>;
  if (field.type === "url" && isWebAddress(text)) {
    return (
      <a href={text} target="_blank" rel="noreferrer noopener">
        {text.replace(/^https?:\/\//i, "")}
      </a>
    );
  }
  if (field.type === "email") return <a href={`mailto:${text}`}>{text}</a>;
  if (field.type === "text") return <span className="clip" title={text}>{text}</span>;
  return <>{text}</>;
}

/** The rows as a table: formatted values, the names of the rows each
 * reference points at, and edit and delete buttons. */
export default function EntityTable({
  meta,
  rows,
  names,
  editing,
  onEdit,
  onDelete,
}: {
  meta: EntityMeta;
  rows: Row[];
  names: Names;
  editing: number | null;
  onEdit: (row: Row) => void;
  onDelete: (row: Row) => void;
}) {
  const fields = orderedFields(meta);
  return (
    <div className="table-wrap">
      <table className="table">
        <thead>
          <tr>
            {fields.map((f) => (
              <th key={f.name} scope="col" className={cellClass(f)}>
                {fieldLabel(f.name)}
              </th>
            ))}
            {meta.references.map((r) => (
              <th key={r.field} scope="col">
                {fieldLabel(r.field)}
              </th>
            ))}
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => {
            const name = rowName(meta, row, names);
            return (
              <tr key={row.id} className={row.id === editing ? "editing" : undefined}>
                {fields.map((f) => (
                  <td key={f.name} data-field={f.name} data-label={fieldLabel(f.name)} className={cellClass(f)}>
                    <Value field={f} value={row[f.name]} />
                  </td>
                ))}
                {meta.references.map((r) => {
                  const id = row[r.field];
                  const shown = id === null || id === undefined ? null : (names[r.target]?.get(Number(id)) ?? `#${String(id)}`);
                  return (
                    <td key={r.field} data-field={r.field} data-label={fieldLabel(r.field)}>
                      {shown ?? <span className="none">—</span>}
                    </td>
                  );
                })}
                <td className="actions">
                  <button
                    type="button"
                    className="btn btn-small btn-secondary"
                    aria-label={`Edit ${name}`}
                    onClick={() => onEdit(row)}
                  >
                    Edit
                  </button>
                  <button
                    type="button"
                    className="btn btn-small btn-danger-ghost"
                    aria-label={`Delete ${name}`}
                    onClick={() => onDelete(row)}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
