/**
 * The project's own .gitlab-ci.yml. That `runner exec` runs its lint and test
 * jobs is tested end to end with the exec command; these tests keep the file
 * in step with the compile script and the Dockerfile.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { TARGETS } from "./compile.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

type Job = Record<string, unknown> & { script?: string[]; stage?: string };
const ci = parse(await Deno.readTextFile(join(ROOT, ".gitlab-ci.yml"))) as Record<string, unknown>;

function job(name: string): Job {
  const value = ci[name];
  assert.ok(value && typeof value === "object", `.gitlab-ci.yml has no job "${name}"`);
  return value as Job;
}

Deno.test(".gitlab-ci.yml runs lint, test, build, image and release in that order", () => {
  assert.deepEqual(ci["stages"], ["lint", "test", "build", "image", "release"]);
  assert.equal(job("lint").stage, "lint");
  assert.equal(job("test").stage, "test");
  assert.equal(job("compile").stage, "build");
  assert.equal(job("container-image").stage, "image");
});

Deno.test(".gitlab-ci.yml lint job checks format, lint and types", () => {
  assert.deepEqual(job("lint").script, [
    "deno fmt --check",
    "deno lint",
    "deno check src/ tests/ scripts/",
  ]);
});

Deno.test(".gitlab-ci.yml test job runs the deno task named by TEST_TASK", () => {
  const test = job("test");
  assert.deepEqual(test["variables"], { "TEST_TASK": "test" });
  assert.deepEqual(test.script, [`deno task "$TEST_TASK"`]);
  const tasks = JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json"))).tasks;
  assert.ok(tasks.test && tasks.unit, "deno.json has the test and unit tasks the job names");
});

Deno.test(".gitlab-ci.yml compiles every target of scripts/compile.ts", () => {
  const compile = job("compile");
  const matrix = (compile["parallel"] as { matrix: { TARGET: string[] }[] }).matrix;
  assert.deepEqual(matrix.flatMap((m) => m.TARGET).sort(), Object.keys(TARGETS).sort());
  assert.deepEqual(compile.script, [
    `deno task compile --no-check --target "$TARGET" --out dist`,
  ]);
  assert.deepEqual((compile["artifacts"] as { paths: string[] }).paths, ["dist/"]);
});

Deno.test(".gitlab-ci.yml builds the image only for tags and, by hand, on the default branch", () => {
  const image = job("container-image");
  assert.deepEqual(image["rules"], [
    { if: "$CI_COMMIT_TAG" },
    { if: "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", when: "manual", "allow_failure": true },
  ]);
  assert.ok((image.script ?? []).some((line) => line.startsWith("docker build ")));
});

Deno.test(".gitlab-ci.yml pins the same Deno as the Dockerfile", async () => {
  const dockerfile = await Deno.readTextFile(join(ROOT, "Dockerfile"));
  const pinned = dockerfile.match(/^ARG DENO_VERSION=(\S+)$/m)?.[1];
  assert.ok(pinned);
  assert.equal((ci["default"] as { image: string }).image, `denoland/deno:debian-${pinned}`);
});
