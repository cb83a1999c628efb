import assert from "node:assert/strict";
import { JobPayloadError, parseJobSpec } from "./job_spec.ts";

Deno.test("an int field of the payload with a fraction is refused naming it; integers and floats stay", () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ runner_info: { timeout: 1.5 } }, "runner_info.timeout"],
    [{ git_info: { depth: 0.5 } }, "git_info.depth"],
    [{ job_info: { project_id: 7.25 } }, "job_info.project_id"],
    [{ steps: [{ name: "script", timeout: 3600.5 }] }, "steps[0].timeout"],
    [{ dependencies: [{ id: 1.5 }] }, "dependencies[0].id"],
    [
      { dependencies: [{ id: 2, artifacts_file: { size: 0.1 } }] },
      "dependencies[0].artifacts_file.size",
    ],
    [{ services: [{ name: "db", ports: [{ number: 80.5 }] }] }, "services[0].ports[0].number"],
  ];
  for (const [payload, path] of cases) {
    assert.throws(() => parseJobSpec({ id: 1, token: "t", ...payload }), (err: unknown) => {
      assert.ok(err instanceof JobPayloadError, String(err));
      assert.equal(err.path, path);
      assert.match(err.message, /expected an integer, got \d+\.\d+$/);
      return true;
    });
  }
  const job = parseJobSpec({
    id: 1,
    token: "t",
    runner_info: { timeout: 3600 },
    job_info: { time_in_queue_seconds: 0.25 },
  });
  assert.equal(job.timeout, 3600);
  assert.equal(job.jobInfo.timeInQueueSeconds, 0.25);
});
