import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { CONFIG_KEYS } from "./schema.ts";
import { documentedKeys, renderConfigDocs } from "./config_docs.ts";

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

Deno.test("docs/configuration.md is exactly what renderConfigDocs() gives, as deno fmt lays it out", async () => {
  const fmt = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", "md", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = fmt.stdin.getWriter();
  await writer.write(new TextEncoder().encode(renderConfigDocs()));
  await writer.close();
  const out = await fmt.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const generated = new TextDecoder().decode(out.stdout);
  const committed = await Deno.readTextFile(DOCS);
  assert.ok(
    committed === generated,
    "docs/configuration.md differs from the schema: regenerate it with renderConfigDocs() " +
      "(see src/config/config_docs.ts), then deno fmt",
  );
});
