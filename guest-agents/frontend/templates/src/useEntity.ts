/** One entity's rows and the rows its references may point at, loaded from the API. */
import { useCallback, useEffect, useMemo, useState } from "react";
import { api } from "./api";
import { type Names, targetName } from "./format";
import type { EntityMeta, Row } from "./types";

/** An error's message for the user. */
export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function targets(meta: EntityMeta): string[] {
  return [...new Set(meta.references.map((r) => r.target))];
}

function namesOf(meta: EntityMeta, lists: Record<string, Row[]>): Names {
  const names: Names = {};
  for (const r of meta.references) {
    names[r.target] = new Map((lists[r.target] ?? []).map((row) => [row.id, targetName(r.display, row)]));
  }
  return names;
}

export function useEntity(meta: EntityMeta) {
  const [rows, setRows] = useState<Row[]>([]);
  const [lists, setLists] = useState<Record<string, Row[]>>({});
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);

  /** Loads everything again, keeping what is on screen until it arrives. */
  const refresh = useCallback(async () => {
    try {
      const wanted = targets(meta);
      const [own, ...parents] = await Promise.all([api.list(meta.plural), ...wanted.map((t) => api.list(t))]);
      setRows(own);
      setLists(Object.fromEntries(wanted.map((t, i) => [t, parents[i]])));
      setError(null);
    } catch (e) {
      setError(message(e));
    } finally {
      setLoading(false);
    }
  }, [meta]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  /** Shows the loading state and loads again (after an error). */
  const retry = useCallback(() => {
    setLoading(true);
    setError(null);
    void refresh();
  }, [refresh]);

  const names = useMemo(() => namesOf(meta, lists), [meta, lists]);
  return { rows, lists, names, loading, error, refresh, retry };
}
