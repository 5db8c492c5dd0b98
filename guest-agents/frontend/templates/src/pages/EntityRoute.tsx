import EntityPage from "../components/EntityPage";
import { entity } from "../spec";

/** The @@label@@ page. */
export default function @@name@@Page() {
  return <EntityPage meta={entity("@@plural@@")} />;
}
