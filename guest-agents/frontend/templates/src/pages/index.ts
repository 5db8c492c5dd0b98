/** One page per entity, by route name. */
import type { ComponentType } from "react";
@@imports@@

export const PAGES: Record<string, ComponentType> = {
@@pages@@
};
