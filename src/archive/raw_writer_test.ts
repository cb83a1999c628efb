import assert from "node:assert/strict";
import { MemoryTree } from "./memory_tree.ts";
import { rawStream } from "./raw_writer.ts";

Deno.test("a raw report that matched only a symlink says so instead of 'none matched'", async () => {
  const tree = new MemoryTree().addFile("real.env", "A=1\n").addSymlink("deploy.env", "real.env");
  await assert.rejects(
    rawStream(tree, ["deploy.env"]),
    (err: Error) => {
      assert.equal(
        err.message,
        'The raw artifact format needs exactly one file, but none matched: "deploy.env" is a symlink, which is not followed',
      );
      return true;
    },
  );
  assert.equal(
    await new Response(await rawStream(tree, ["real.env"])).text(),
    "A=1\n",
  );
});
