/**
 * The official helper commands as a driver's script calls them: `runner
 * cache-archiver` / `cache-extractor` with the official flags, in the project
 * directory. (Artifact helpers are covered with a real job by
 * custom_job_files_test.ts.)
 */
import assert from "node:assert/strict";
import { runCli } from "../fixtures/runner_process.ts";

Deno.test("cache-archiver and cache-extractor round-trip a cache file; a missing one fails clearly; unsupported flags are named", async () => {
  const root = await Deno.makeTempDir({ prefix: "job-helpers-" });
  try {
    const project = `${root}/project`;
    await Deno.mkdir(`${project}/vendor/deep`, { recursive: true });
    await Deno.writeTextFile(`${project}/vendor/deep/lib.txt`, "lib");
    await Deno.writeTextFile(`${project}/other.txt`, "not cached");
    const file = `${root}/cache/acme/widget/deps/cache.zip`;
    const archived = await runCli(
      ["cache-archiver", "--file", file, "--path", "vendor/", "--timeout", "10"],
      { cwd: project },
    );
    assert.equal(archived.code, 0, archived.stdout + archived.stderr);
    assert.match(archived.stdout, /vendor: found 3 matching artifact files and directories/);
    assert.match(archived.stdout, /WARNING: --timeout is not supported by this runner; ignored/);

    await Deno.remove(`${project}/vendor`, { recursive: true });
    const extracted = await runCli(["cache-extractor", "--file", file], { cwd: project });
    assert.equal(extracted.code, 0, extracted.stdout + extracted.stderr);
    assert.equal(await Deno.readTextFile(`${project}/vendor/deep/lib.txt`), "lib");

    const missing = await runCli(
      ["cache-extractor", "--file", `${root}/cache/none/cache.zip`],
      { cwd: project },
    );
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /ERROR: Cache file does not exist/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
