import assert from "node:assert/strict";
import { parseJobSpec } from "../../job/job_spec.ts";
import { jobResponseJson, jobServicesJson } from "./job_response.ts";

const WIRE = {
  id: 99,
  token: "glcbt-abc",
  "allow_git_fetch": true,
  "job_info": {
    name: "build",
    stage: "test",
    "pipeline_id": 7,
    "project_id": 42,
    "project_name": "widget",
    "project_full_path": "acme/widget",
    "namespace_id": 3,
    "user_id": 5,
    "time_in_queue_seconds": 1.5,
    "project_jobs_running_on_instance_runners_count": "+Inf",
    "queue_size": 0,
    "queue_depth": 0,
  },
  "git_info": {
    "repo_url": "https://gitlab-ci-token:glcbt-abc@gitlab.example.com/acme/widget.git",
    "repo_object_format": "sha1",
    ref: "main",
    sha: "3c8b1f0e",
    "before_sha": "00000000",
    "ref_type": "branch",
    refspecs: ["+refs/heads/main:refs/remotes/origin/main"],
    depth: 20,
    protected: true,
  },
  "runner_info": { timeout: 3600 },
  variables: [{
    key: "CI_JOB_ID",
    value: "99",
    public: true,
    file: false,
    masked: false,
    raw: false,
  }],
  steps: [{
    name: "script",
    script: ["make"],
    timeout: 3600,
    when: "on_success",
    "allow_failure": false,
  }],
  image: {
    name: "alpine:3",
    "executor_opts": { docker: { platform: "", user: "" }, kubernetes: { user: "" } },
  },
  services: [],
  artifacts: [],
  cache: [],
  credentials: [{ type: "registry", url: "registry.example.com", username: "u", password: "p" }],
  dependencies: [],
  features: {
    "trace_sections": true,
    "token_mask_prefixes": ["glpat-"],
    "failure_reasons": ["script_failure"],
  },
};

Deno.test("jobResponseJson gives back the wire payload GitLab sent", () => {
  assert.deepEqual(jobResponseJson(parseJobSpec(WIRE)), WIRE);
});

Deno.test("jobResponseJson round-trips through parseJobSpec", () => {
  const spec = parseJobSpec({
    ...WIRE,
    services: [{
      name: "redis",
      alias: "cache",
      ports: [{ number: 6379 }],
      "pull_policy": ["always"],
    }],
    hooks: [{ name: "pre_get_sources_script", script: ["echo hi"] }],
  });
  assert.deepEqual(parseJobSpec(jobResponseJson(spec)), spec);
});

Deno.test("jobServicesJson matches the official CI_JOB_SERVICES value", () => {
  assert.equal(jobServicesJson({ services: [] }), "");
  const spec = parseJobSpec({
    ...WIRE,
    services: [
      { name: "redis:latest" },
      {
        name: "my-postgres:9.4",
        alias: "pg, db",
        entrypoint: ["path", "to", "entrypoint"],
        command: ["path", "to", "cmd"],
        variables: [{ key: "POSTGRES_DB", value: "test" }],
      },
    ],
  });
  assert.equal(
    jobServicesJson(spec),
    '[{"name":"redis:latest","alias":"","entrypoint":null,"command":null},' +
      '{"name":"my-postgres:9.4","alias":"pg","entrypoint":["path","to","entrypoint"],' +
      '"command":["path","to","cmd"],"variables":{"POSTGRES_DB":"test"}}]',
  );
});
