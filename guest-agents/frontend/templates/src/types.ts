/** What the UI knows about each entity; generated into spec.ts. */
export type FieldType = "string" | "text" | "integer" | "number" | "boolean" | "date" | "datetime" | "email";

export interface FieldMeta {
  name: string;
  type: FieldType;
  required: boolean;
}

export interface ReferenceMeta {
  /** Foreign-key field, such as `supplier_id`. */
  field: string;
  /** Route name of the entity it points at, such as `suppliers`. */
  target: string;
  required: boolean;
}

export interface EntityMeta {
  name: string;
  plural: string;
  label: string;
  fields: FieldMeta[];
  references: ReferenceMeta[];
}

export type Row = { id: number } & Record<string, unknown>;
