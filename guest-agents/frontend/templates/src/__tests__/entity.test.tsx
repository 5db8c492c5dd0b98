import Page from "../pages/@@name@@Page";
import { entityPageSuite } from "./suite";

entityPageSuite("@@plural@@", Page, @@rules@@);
