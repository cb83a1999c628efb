import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { CONFIG_KEYS } from "./schema.ts";
import { documentedKeys } from "./config_docs.ts";

const DOCS = fileURLToPath(new URL("../../docs/configuration.md", import.meta.url));

Deno.test("docs/configuration.md documents exactly the keys of the schema", async () => {
  const documented = documentedKeys(await Deno.readTextFile(DOCS));
  const schema = new Set(
    CONFIG_KEYS.map((k) => (k.section === "" ? k.key : `${k.section}.${k.key}`)),
  );
  const missing = [...schema].filter((k) => !documented.has(k));
  const extra = [...documented].filter((k) => !schema.has(k));
  assert.deepEqual(
    { missing, extra },
    { missing: [], extra: [] },
    "regenerate docs/configuration.md with renderConfigDocs() (see src/config/config_docs.ts)",
  );
});
