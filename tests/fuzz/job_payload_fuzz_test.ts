/** Hostile `jobs/request` bodies: each parses or throws a JobPayloadError naming the field. */
import assert from "node:assert/strict";
import { JobPayloadError, parseJobSpec } from "../../src/job/job_spec.ts";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import {
  assertClearError,
  forEachInput,
  fuzzIterations,
  fuzzSeed,
  type Prng,
} from "./_fuzz_input.ts";

/** A complete payload as the fake GitLab sends it: real HTTP, every section filled. */
async function samplePayload(): Promise<Record<string, unknown>> {
  await using gitlab = await FakeGitLab.start({ longPollHoldMs: 0 });
  const runner = gitlab.createRunner({ kind: "created" });
  gitlab.enqueueJob({
    script: ["echo hi"],
    afterScript: ["echo bye"],
    image: "alpine:3",
    services: [{ name: "postgres:16", alias: "db" }],
    artifacts: [{
      name: "out",
      paths: ["dist/"],
      when: "on_success",
      "artifact_format": "zip",
      "expire_in": "1 week",
    }],
    cache: [{
      key: "deps",
      paths: ["vendor/"],
      policy: "pull-push",
      when: "on_success",
      untracked: false,
    }],
    variables: [{ key: "SECRET", value: "s3cr3t-value", masked: true }, {
      key: "CFG",
      value: "x",
      file: true,
    }],
  });
  const response = await fetch(`${gitlab.url}/api/v4/jobs/request`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: runner.token, info: {} }),
  });
  return await response.json();
}

type Path = (string | number)[];

function paths(value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  }
  return out;
}

function mutate(rng: Prng, payload: Record<string, unknown>): unknown {
  const copy = structuredClone(payload);
  const all = paths(copy).filter((p) => p.length > 0);
  for (let e = rng.int(1, 5); e > 0; e--) {
    const path = rng.pick(all);
    let parent: unknown = copy;
    for (const key of path.slice(0, -1)) {
      parent = (parent as Record<string | number, unknown>)?.[key];
    }
    if (typeof parent !== "object" || parent === null) continue;
    const last = path[path.length - 1]!;
    if (rng.chance(0.2)) delete (parent as Record<string | number, unknown>)[last];
    else (parent as Record<string | number, unknown>)[last] = rng.jsonValue(3);
  }
  return copy;
}

Deno.test("job payload: random and mutated bodies never crash parseJobSpec; each error is a JobPayloadError", async () => {
  const sample = await samplePayload();
  parseJobSpec(sample); // the unmutated payload is valid
  const seen = { accepted: 0, refused: 0 };
  await forEachInput(
    "parseJobSpec",
    { iterations: fuzzIterations(500), seed: fuzzSeed() },
    (rng) => rng.chance(0.85) ? mutate(rng, sample) : rng.jsonValue(4),
    (body) => {
      try {
        parseJobSpec(body);
        seen.accepted++;
      } catch (err) {
        assertClearError(err, JobPayloadError);
        seen.refused++;
      }
    },
  );
  assert.ok(seen.accepted > 0 && seen.refused > 0, `both outcomes occur: ${JSON.stringify(seen)}`);
});
