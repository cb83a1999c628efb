import assert from "node:assert/strict";
import { JobFailedError } from "../../job/failure_reason.ts";
import {
  checkImageAllowed,
  isImageAllowed,
  normalizeImageName,
  resolvePullPolicies,
} from "./image_policy.ts";

Deno.test("allowed_images globs keep * inside one path segment and let ** cross /", () => {
  assert.equal(isImageAllowed("ruby:3.3", []), true);
  assert.equal(isImageAllowed("ruby:3.3", ["ruby:*"]), true);
  assert.equal(isImageAllowed("evil/ruby:3.3", ["ruby:*"]), false);
  assert.equal(isImageAllowed("registry.example.com/a/b:1", ["registry.example.com/*"]), false);
  assert.equal(isImageAllowed("registry.example.com/a/b:1", ["registry.example.com/**"]), true);
});

Deno.test("a job image outside allowed_images is a runner_configuration_error listing the globs", () => {
  assert.throws(() => checkImageAllowed("alpine:3", ["ruby:*", "python:*"], "image"), (err) => {
    assert.ok(err instanceof JobFailedError);
    assert.equal(err.reason, "runner_configuration_error");
    assert.match(err.message, /"alpine:3" image is not present on the list of allowed images/);
    assert.match(err.message, /- ruby:\*\n- python:\*/);
    return true;
  });
});

Deno.test("a job image or service the runner itself uses passes allowed_images, as upstream", () => {
  // The runner's default image, or a [[runners.docker.services]] image, asked for by the job.
  checkImageAllowed("ruby:3.3", ["python:*"], "image", { internal: ["ruby:3.3"] });
  checkImageAllowed("postgres:16", ["redis:*"], "service", { internal: ["postgres:16"] });
  assert.throws(
    () => checkImageAllowed("ruby:3.4", ["python:*"], "image", { internal: ["ruby:3.3"] }),
    /"ruby:3.4" image is not present on the list of allowed images/,
  );
});

Deno.test("pull policies: the job's list wins when allowed, else the runner's", () => {
  assert.deepEqual(resolvePullPolicies([], [], []), ["always"]);
  assert.deepEqual(resolvePullPolicies(["if-not-present"], [], []), ["if-not-present"]);
  assert.deepEqual(
    resolvePullPolicies(["always"], ["always", "never"], ["never"]),
    ["never"],
  );
  assert.deepEqual(
    resolvePullPolicies(["always", "if-not-present"], [], ["if-not-present"]),
    ["if-not-present"],
  );
});

Deno.test("a job pull policy outside allowed_pull_policies is rejected with both lists", () => {
  assert.throws(() => resolvePullPolicies(["always"], [], ["never"]), (err) => {
    assert.ok(err instanceof JobFailedError);
    assert.equal(err.reason, "runner_configuration_error");
    assert.equal(
      err.message,
      "pull_policy ([never]) defined in the GitLab pipeline config for the job's image is not " +
        "one of the allowed_pull_policies ([always])",
    );
    return true;
  });
  // A job with an image and services: the message said only "the GitLab pipeline config".
  assert.throws(
    () => resolvePullPolicies(["always"], [], ["never"], { jobSource: `the job's service "db"` }),
    new JobFailedError(
      "runner_configuration_error",
      `pull_policy ([never]) defined in the GitLab pipeline config for the job's service "db" ` +
        "is not one of the allowed_pull_policies ([always])",
    ),
  );
  assert.throws(
    () => resolvePullPolicies(["sometimes"], [], []),
    /Unsupported pull_policy "sometimes"/,
  );
  assert.throws(
    () => resolvePullPolicies([], [], ["bogus"]),
    /^JobFailedError: Unsupported pull_policy "bogus" in the job's image: /,
  );
  assert.throws(
    () => resolvePullPolicies([], [], ["bogus"], { jobSource: `the job's service "db"` }),
    /^JobFailedError: Unsupported pull_policy "bogus" in the job's service "db": /,
  );
});

Deno.test("image names without a tag get latest; digests stay", () => {
  assert.equal(normalizeImageName("alpine"), "alpine:latest");
  assert.equal(normalizeImageName("localhost:5000/a/b"), "localhost:5000/a/b:latest");
  assert.equal(normalizeImageName("localhost:5000/a/b:1"), "localhost:5000/a/b:1");
  assert.equal(normalizeImageName("a@sha256:00"), "a@sha256:00");
});
