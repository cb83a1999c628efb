/**
 * `register --docker-pull-policy never` must leave allowed_pull_policies to
 * follow pull_policy: saved as the filled-in default ["always"], it made every
 * job of the new runner fail with "pull_policy ([never]) … is not one of the
 * allowed_pull_policies ([always])".
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { runCli } from "../fixtures/runner_process.ts";
import { parseConfig } from "../../src/config/parse_config.ts";

Deno.test("register --docker-pull-policy never writes a config whose jobs may use that policy", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-register-" });
  const config = join(dir, "config.toml");
  const res = await runCli([
    "register",
    "--non-interactive",
    "--url",
    gitlab.url,
    "--token",
    fake.token,
    "--executor",
    "docker",
    "--docker-image",
    "alpine:3.20",
    "--docker-pull-policy",
    "never",
    "--config",
    config,
  ]);
  assert.equal(res.code, 0, res.stderr);
  const text = await Deno.readTextFile(config);
  assert.match(text, /pull_policy = \[ "never" \]/);
  const loaded = parseConfig(text, { file: config, env: {} });
  assert.deepEqual(loaded.config.runners[0]?.docker.allowedPullPolicies, ["never"]);
  await Deno.remove(dir, { recursive: true });
});
