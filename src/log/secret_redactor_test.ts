import assert from "node:assert/strict";
import { RELEASED_JOB_SECRETS, SecretRedactor } from "./secret_redactor.ts";

const token = (i: number) => `glcbt-job${String(i).padStart(12, "0")}`;

Deno.test("SecretRedactor holds the tokens of running jobs and of the last jobs that ended, not of every job", () => {
  const redactor = new SecretRedactor();
  redactor.addSecret("glrt-runner-token");
  redactor.addJobSecret(token(0)); // a long job, running throughout
  const jobs = 3 * RELEASED_JOB_SECRETS;
  for (let i = 1; i <= jobs; i++) {
    redactor.addJobSecret(token(i));
    redactor.releaseJobSecret(token(i));
  }
  // The runner token, the running job's and the last ended jobs' (before: every job's).
  assert.equal(redactor.secretCount, 2 + RELEASED_JOB_SECRETS);
  const line = (i: number) => `POST /api/v4/jobs/1/trace token=${token(i)}`;
  assert.equal(redactor.redact(line(0)), "POST /api/v4/jobs/1/trace token=[MASKED]");
  assert.equal(redactor.redact(line(jobs)), "POST /api/v4/jobs/1/trace token=[MASKED]");
  assert.equal(
    redactor.redact(line(jobs - RELEASED_JOB_SECRETS + 1)),
    "POST /api/v4/jobs/1/trace token=[MASKED]",
  );
  assert.equal(redactor.redact("glrt-runner-token"), "[MASKED]");
  redactor.releaseJobSecret(token(0));
  assert.equal(redactor.redact(line(0)), "POST /api/v4/jobs/1/trace token=[MASKED]", "just ended");
});

Deno.test("SecretRedactor keeps a job token masked while another job with it still runs", () => {
  const redactor = new SecretRedactor();
  redactor.addJobSecret("glcbt-twice");
  redactor.addJobSecret("glcbt-twice");
  redactor.releaseJobSecret("glcbt-twice");
  for (let i = 0; i <= RELEASED_JOB_SECRETS; i++) {
    redactor.addJobSecret(token(i));
    redactor.releaseJobSecret(token(i));
  }
  assert.equal(redactor.redact("x glcbt-twice"), "x [MASKED]");
});
