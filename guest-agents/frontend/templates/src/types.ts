/** What the UI knows about each entity; generated into spec.ts. */
export type FieldType =
  | "string"
  | "text"
  | "integer"
  | "number"
  | "decimal"
  | "boolean"
  | "date"
  | "datetime"
  | "email"
  | "url"
  | "enum";

export interface FieldMeta {
  name: string;
  type: FieldType;
  required: boolean;
  /** Smallest value allowed (numeric types). */
  min?: number;
  /** Largest value allowed (numeric types). */
  max?: number;
  /** The values an `enum` field takes, such as `in_progress`. */
  choices?: string[];
  /** No two rows share a value (the backend answers 409). */
  unique?: boolean;
}

export interface ReferenceMeta {
  /** Foreign-key field, such as `supplier_id`. */
  field: string;
  /** Route name of the entity it points at, such as `suppliers`. */
  target: string;
  required: boolean;
  /** The target's field that names a row, such as `name`; null when it has none. */
  display: string | null;
}

export interface EntityMeta {
  name: string;
  plural: string;
  /** Heading for the list, such as `Order items`. */
  label: string;
  /** One row in words, such as `order item`. */
  singular: string;
  /** The field that names a row; null when it has none (as for join entities). */
  display: string | null;
  fields: FieldMeta[];
  references: ReferenceMeta[];
}

export type Row = { id: number } & Record<string, unknown>;
