/** Hostile artifact archives: extractZip extracts a mutated zip or throws an ArchiveError. */
import assert from "node:assert/strict";
import {
  ArchiveError,
  BytesReader,
  type CompressionLevel,
  extractZip,
  zipStream,
} from "../../src/archive/mod.ts";
import { MemoryTree } from "../../src/archive/memory_tree.ts";
import { assertClearError, forEachInput, fuzzIterations, fuzzSeed } from "./_fuzz_input.ts";

async function sampleZip(level: CompressionLevel): Promise<Uint8Array> {
  const tree = new MemoryTree()
    .addFile("dist/app.js", "console.log('hello');\n".repeat(50))
    .addFile("dist/readme.txt", "read me\n")
    .addFile("bin/run.sh", "#!/bin/sh\necho run\n", 0o755)
    .addDir("empty");
  tree.addSymlink("dist/latest", "app.js");
  const paths = [...tree.nodes.keys()].filter((p) => p !== "");
  return new Uint8Array(await new Response(zipStream(tree, paths, { level })).arrayBuffer());
}

Deno.test("artifact zip: mutated archives never crash extractZip; each error is an ArchiveError", async () => {
  const samples = [await sampleZip("fastest"), await sampleZip("default")];
  await extractZip(new BytesReader(samples[0]!), new MemoryTree()); // the unmutated archive is valid
  const seen = { accepted: 0, refused: 0 };
  await forEachInput(
    "extractZip",
    { iterations: fuzzIterations(500), seed: fuzzSeed() },
    (rng) => rng.chance(0.05) ? rng.bytes(rng.int(0, 200)) : rng.mutateBytes(rng.pick(samples)),
    async (bytes) => {
      try {
        await extractZip(new BytesReader(bytes), new MemoryTree());
        seen.accepted++;
      } catch (err) {
        assertClearError(err, ArchiveError);
        seen.refused++;
      }
    },
  );
  assert.ok(seen.accepted > 0 && seen.refused > 0, `both outcomes occur: ${JSON.stringify(seen)}`);
});
