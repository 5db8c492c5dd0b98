import { useEffect, useRef, useState } from "react";
import { api } from "../api";
import { rowName } from "../format";
import { message, useEntity } from "../useEntity";
import type { EntityMeta, Row } from "../types";
import ConfirmDialog from "./ConfirmDialog";
import EntityForm from "./EntityForm";
import EntityTable from "./EntityTable";

/** How long "Saved" stays on screen. */
const SAVED_FOR_MS = 4000;

function count(meta: EntityMeta, n: number): string {
  return n === 1 ? `1 ${meta.singular}` : `${n} ${meta.label.toLowerCase()}`;
}

/** List, create, edit and delete rows of one entity. */
export default function EntityPage({ meta }: { meta: EntityMeta }) {
  const { rows, lists, names, loading, error, refresh, retry } = useEntity(meta);
  const [editing, setEditing] = useState<Row | null>(null);
  const [deleting, setDeleting] = useState<Row | null>(null);
  const [saved, setSaved] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [jumps, setJumps] = useState(0);
  const formRef = useRef<HTMLFormElement>(null);

  useEffect(() => {
    if (jumps === 0) return;
    const form = formRef.current;
    form?.scrollIntoView?.({ behavior: "smooth", block: "start" });
    form?.querySelector<HTMLElement>("input, select, textarea")?.focus({ preventScroll: true });
  }, [jumps]);

  useEffect(() => {
    if (!saved) return;
    const timer = setTimeout(() => setSaved(false), SAVED_FOR_MS);
    return () => clearTimeout(timer);
  }, [saved]);

  function showForm(row: Row | null) {
    setEditing(row);
    setSaved(false);
    setJumps((n) => n + 1);
  }

  async function remove(row: Row) {
    setDeleting(null);
    setNotice(null);
    try {
      await api.remove(meta.plural, row.id);
      if (editing?.id === row.id) setEditing(null);
      await refresh();
    } catch (e) {
      setNotice(`Could not delete ${rowName(meta, row, names)}: ${message(e)}`);
    }
  }

  function body() {
    if (loading) return <p className="state">Loading…</p>;
    if (error) {
      return (
        <div role="alert" className="state state-error">
          <p>Could not load {meta.label.toLowerCase()}: {error}</p>
          <button type="button" className="btn btn-secondary" onClick={retry}>
            Try again
          </button>
        </div>
      );
    }
    if (rows.length === 0) {
      return (
        <p className="state state-empty">
          No {meta.label.toLowerCase()} yet — create the first one
        </p>
      );
    }
    return (
      <EntityTable
        meta={meta}
        rows={rows}
        names={names}
        editing={editing?.id ?? null}
        onEdit={showForm}
        onDelete={setDeleting}
      />
    );
  }

  return (
    <section className="page">
      <div className="page-head">
        <div>
          <h2>{meta.label}</h2>
          {!loading && !error && <p className="muted">{count(meta, rows.length)}</p>}
        </div>
        <button type="button" className="btn btn-primary" onClick={() => showForm(null)}>
          New {meta.singular}
        </button>
      </div>
      {notice && (
        <div role="alert" className="alert">
          {notice}
        </div>
      )}
      <div className="card card-flush">{body()}</div>
      <EntityForm
        key={editing ? `edit-${editing.id}` : "new"}
        meta={meta}
        lists={lists}
        editing={editing}
        editingName={editing ? rowName(meta, editing, names) : ""}
        saved={saved}
        formRef={formRef}
        onSaved={() => {
          setEditing(null);
          setSaved(true);
          void refresh();
        }}
        onCancel={() => setEditing(null)}
      />
      {deleting && (
        <ConfirmDialog
          title={`Delete ${rowName(meta, deleting, names)}?`}
          message={`This ${meta.singular} will be removed for good.`}
          confirm="Delete"
          onConfirm={() => void remove(deleting)}
          onCancel={() => setDeleting(null)}
        />
      )}
    </section>
  );
}
