/**
 * End to end: `[runners.cache] Type = "azure"` through `runner run` against
 * the fake GitLab and a real Azure Blob service (Azurite over HTTPS,
 * tests/fixtures/azurite.ts, one for the file). What a user sees: the blobs
 * in the container under the official names, the cache coming back on
 * another runner, the job log lines, and warnings (not failures) for a wrong
 * account key and a missing container.
 */
import assert from "node:assert/strict";
import { shortToken } from "../../src/config/short_token.ts";
import { COMPILED_GRANT_FLAGS } from "../../src/poller/compiled_grants.ts";
import {
  type AzureCacheSettings,
  azureCacheToml,
  azuriteSkipReason,
  startAzurite,
} from "../fixtures/azurite.ts";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { cleanHome } from "../fixtures/test_env.ts";

const NO_GIT = { key: "GIT_STRATEGY", value: "none" };
const TIMEOUT = { timeoutMs: 120_000 };
const skip = await azuriteSkipReason();
if (skip) {
  // deno-lint-ignore no-console -- the skip reason the style guide asks for
  console.log(`SKIP Azure cache tests: ${skip}`);
}

function azureRunnerConfig(url: string, token: string, azure: AzureCacheSettings): string {
  return `concurrent = 2\ncheck_interval = 1\n\n${runnerToml(url, token)}${azureCacheToml(azure)}`;
}

const cacheOf = (key: string) => [
  { key, paths: ["vendor/"], policy: "pull-push", when: "on_success" },
];

Deno.test({
  name: "distributed cache on Azurite (Azure Blob Storage)",
  ignore: skip !== null,
  async fn(t) {
    await using az = await startAzurite();
    await az.createContainer("runner-cache");
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    // The executor process trusts Azurite's CA, as an operator's DENO_CERT would make it.
    const env = { ...cleanHome(), DENO_CERT: az.caFile };
    const base = {
      domain: az.domain,
      accountName: az.accountName,
      accountKey: az.accountKey,
      container: "runner-cache",
    };

    await t.step(
      "a cache saved through one runner is restored through another (Shared = true), under the official blob name",
      async () => {
        const a = gitlab.createRunner({ kind: "created" });
        const b = gitlab.createRunner({ kind: "created" });
        const azure = { ...base, shared: true };
        await using first = await startRunner({
          env,
          config: azureRunnerConfig(gitlab.url, a.token, azure),
        });
        const write = gitlab.enqueueJob({
          project: "acme/azure-shared",
          script: [
            "mkdir -p vendor",
            "echo lib-v1 > vendor/lib.txt",
            'echo "PROJECT=$CI_PROJECT_ID"',
          ],
          cache: cacheOf("deps"),
          variables: [NO_GIT],
          runnerId: a.id,
        });
        const written = await gitlab.waitForJobFinished(write.id, TIMEOUT);
        assert.equal(written.status, "success", written.trace + first.log);
        const project = /PROJECT=(\d+)/.exec(written.trace)?.[1];
        assert.ok(project, written.trace);
        // The official runner's words (its GoCloud URL), never the SAS.
        assert.match(
          written.trace,
          new RegExp(`Uploading cache.zip to azblob://runner-cache/project/${project}/deps\\b`),
        );
        assert.doesNotMatch(written.trace, /sig=|AccountKey|Eby8vdM02/, "no SAS or key in the log");
        assert.deepEqual(await az.listBlobs("runner-cache", `project/${project}/`), [
          `project/${project}/deps`,
        ]);
        // The key as blob metadata, as the official runner stores it.
        const props = await az.blobHeaders("runner-cache", `project/${project}/deps`);
        assert.equal(props.get("x-ms-meta-cachekey"), "deps");
        const blob = await az.readBlob("runner-cache", `project/${project}/deps`);
        assert.deepEqual(
          [...(blob ?? new Uint8Array()).subarray(0, 2)],
          [0x50, 0x4b],
          "a zip archive",
        );

        // Started as the compiled binary is (its global grants; the poller and each
        // executor process then run scoped): the SAS library loads and signs there.
        await using second = await startRunner({
          env,
          config: azureRunnerConfig(gitlab.url, b.token, azure),
          grants: COMPILED_GRANT_FLAGS,
        });
        const read = gitlab.enqueueJob({
          project: "acme/azure-shared",
          script: ["cat vendor/lib.txt"],
          cache: cacheOf("deps"),
          // The official helpers' transfer meter, asked for by the job.
          variables: [NO_GIT, { key: "TRANSFER_METER_FREQUENCY", value: "1s" }],
          runnerId: b.id,
        });
        const restored = await gitlab.waitForJobFinished(read.id, TIMEOUT);
        assert.equal(restored.status, "success", restored.trace + second.log);
        // The official line: the blob's ETag as a log field.
        assert.match(
          restored.trace,
          new RegExp(
            `Downloading cache from azblob://runner-cache/project/${project}/deps +etag="0x[0-9A-F]+"`,
          ),
        );
        assert.match(
          restored.trace,
          /\rDownloading cache (\d+) B\/\1 B \([\d.]+ .?B\/s\) {16}\n/,
          "the meter's last line: size, total and rate",
        );
        assert.match(restored.trace, /Successfully extracted cache/);
        assert.match(restored.trace, /\nlib-v1\n/);
      },
    );

    await t.step(
      "Shared = false keeps each runner's cache under runner/<short token>/",
      async () => {
        const a = gitlab.createRunner({ kind: "created" });
        const b = gitlab.createRunner({ kind: "created" });
        const azure = { ...base, shared: false };
        await using first = await startRunner({
          env,
          config: azureRunnerConfig(gitlab.url, a.token, azure),
        });
        await using second = await startRunner({
          env,
          config: azureRunnerConfig(gitlab.url, b.token, azure),
        });
        const write = gitlab.enqueueJob({
          project: "acme/azure-own",
          script: [
            "mkdir -p vendor",
            "echo mine > vendor/lib.txt",
            'echo "PROJECT=$CI_PROJECT_ID"',
          ],
          cache: cacheOf("deps"),
          variables: [NO_GIT],
          runnerId: a.id,
        });
        const written = await gitlab.waitForJobFinished(write.id, TIMEOUT);
        assert.equal(written.status, "success", written.trace + first.log);
        const project = /PROJECT=(\d+)/.exec(written.trace)?.[1];
        const prefix = `runner/${shortToken(a.token)}/`;
        assert.deepEqual(await az.listBlobs("runner-cache", prefix), [
          `${prefix}project/${project}/deps`,
        ]);

        const read = gitlab.enqueueJob({
          project: "acme/azure-own",
          script: ["test ! -e vendor/lib.txt && echo no-cache-here"],
          cache: cacheOf("deps"),
          variables: [NO_GIT],
          runnerId: b.id,
        });
        const other = await gitlab.waitForJobFinished(read.id, TIMEOUT);
        assert.equal(other.status, "success", other.trace + second.log);
        assert.match(other.trace, /Cache file does not exist/);
        assert.match(other.trace, /\nno-cache-here\n/);
      },
    );

    await t.step(
      "a wrong account key and a missing container are warnings; the jobs succeed",
      async () => {
        const cases = [
          {
            azure: { ...base, shared: true, accountKey: btoa("not the key".repeat(6)) },
            expect:
              /WARNING: Cannot upload cache: the server answered 403 (AuthenticationFailed|AuthorizationFailure).*\(check the account key in \[runners.cache.azure\]/,
          },
          {
            azure: { ...base, shared: true, container: "no-such-container" },
            expect:
              /WARNING: Cannot upload cache: the server answered 404 ContainerNotFound.*\(the container in \[runners.cache.azure\] does not exist\)/,
          },
        ];
        await Promise.all(cases.map(async (c) => {
          const r = gitlab.createRunner({ kind: "created" });
          await using runner = await startRunner({
            env,
            config: azureRunnerConfig(gitlab.url, r.token, c.azure),
          });
          const job = gitlab.enqueueJob({
            project: "acme/azure-broken",
            script: ["mkdir -p vendor", "echo x > vendor/lib.txt", "echo job-went-on"],
            cache: cacheOf(`key-${crypto.randomUUID().slice(0, 8)}`),
            variables: [NO_GIT],
            runnerId: r.id,
          });
          const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
          assert.equal(state.status, "success", state.trace + runner.log);
          assert.match(state.trace, c.expect, state.trace);
          assert.match(state.trace, /\njob-went-on\n/);
        }));
      },
    );
  },
});
