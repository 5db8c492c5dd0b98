/** The spec this frontend was generated from. */
import type { EntityMeta } from "./types";

export const TITLE: string = @@title@@;
export const AUTH: boolean = @@auth@@;
export const ENTITIES: EntityMeta[] = @@entities@@;

export function entity(plural: string): EntityMeta {
  const found = ENTITIES.find((e) => e.plural === plural);
  if (!found) throw new Error(`no entity ${plural}`);
  return found;
}
