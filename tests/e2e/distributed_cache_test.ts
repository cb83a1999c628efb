/**
 * End to end: `[runners.cache] Type = "s3"` through `runner run` against the
 * fake GitLab and a real radosgw (tests/fixtures/radosgw.ts, one cluster for
 * the file). What a user sees: the objects in the bucket under the official
 * names, the cache coming back on another runner, the job log lines, and
 * warnings (not failures) for a missing bucket, bad credentials and an
 * archive over MaxUploadedArchiveSize.
 */
import assert from "node:assert/strict";
import { shortToken } from "../../src/config/short_token.ts";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import {
  radosgwSkipReason,
  type S3CacheSettings,
  s3CacheToml,
  startRadosgw,
} from "../fixtures/radosgw.ts";
import { runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { cleanHome, denoDir } from "../fixtures/test_env.ts";
import { LocalCa } from "../fixtures/local_ca.ts";

const NO_GIT = { key: "GIT_STRATEGY", value: "none" };
const TIMEOUT = { timeoutMs: 120_000 };
const skip = await radosgwSkipReason();
if (skip) {
  // deno-lint-ignore no-console -- the skip reason the style guide asks for
  console.log(`SKIP distributed cache tests: ${skip}`);
}

/** A runner's config.toml with an S3 distributed cache. */
function s3RunnerConfig(url: string, token: string, s3: S3CacheSettings): string {
  return `concurrent = 2\ncheck_interval = 1\n\n${runnerToml(url, token)}${s3CacheToml(s3)}`;
}

/** Job shells are login shells: a clean HOME keeps root's ~/.profile (pyenv) out of them. */
const HOME = skip ? "" : await Deno.makeTempDir({ prefix: "runner-cache-home-" });
const ENV = {
  HOME,
  // Deno's own cache stays where it is (it defaults to $HOME/.cache/deno).
  DENO_DIR: denoDir(),
};

const cacheOf = (key: string) => [
  { key, paths: ["vendor/"], policy: "pull-push", when: "on_success" },
];

Deno.test({
  name: "distributed cache on radosgw (S3)",
  ignore: skip !== null,
  async fn(t) {
    // radosgw answers HTTPS too, with a certificate of a CA of the test's own.
    await using ca = await LocalCa.create();
    await using gw = await startRadosgw({ tls: ca.server });
    await using _home = { [Symbol.asyncDispose]: () => Deno.remove(HOME, { recursive: true }) };
    await gw.createBucket("runner-cache");
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });

    await t.step(
      "a cache written by one runner is restored by another (Shared = true), under the official object name",
      async () => {
        const a = gitlab.createRunner({ kind: "created" });
        const b = gitlab.createRunner({ kind: "created" });
        const s3 = {
          address: gw.address,
          accessKey: gw.accessKey,
          secretKey: gw.secretKey,
          bucket: "runner-cache",
          shared: true,
        };
        await using first = await startRunner({
          env: ENV,
          config: s3RunnerConfig(gitlab.url, a.token, s3),
        });
        const write = gitlab.enqueueJob({
          project: "acme/shared-cache",
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
        assert.match(
          written.trace,
          new RegExp(
            `Uploading cache.zip to http://${gw.address}/runner-cache/project/${project}/deps(\\x1b\\[0;m)?\\n`,
          ),
        );
        assert.doesNotMatch(
          written.trace,
          /X-Amz-Signature|AWS4-HMAC/,
          "no signature in the job log",
        );
        assert.deepEqual(await gw.listObjects("runner-cache", `project/${project}/`), [
          `project/${project}/deps`,
        ]);
        // The key as object metadata, as the official runner stores it.
        const head = await gw.request("HEAD", `/runner-cache/project/${project}/deps`);
        await head.body?.cancel();
        assert.equal(head.headers.get("x-amz-meta-cachekey"), "deps");

        await using second = await startRunner({
          env: ENV,
          config: s3RunnerConfig(gitlab.url, b.token, s3),
        });
        const read = gitlab.enqueueJob({
          project: "acme/shared-cache",
          script: ["cat vendor/lib.txt"],
          cache: cacheOf("deps"),
          variables: [NO_GIT],
          runnerId: b.id,
        });
        const restored = await gitlab.waitForJobFinished(read.id, TIMEOUT);
        assert.equal(restored.status, "success", restored.trace + second.log);
        assert.match(
          restored.trace,
          new RegExp(
            `Downloading cache from http://${gw.address}/runner-cache/project/${project}/deps\\s`,
          ),
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
        const s3 = {
          address: gw.address,
          accessKey: gw.accessKey,
          secretKey: gw.secretKey,
          bucket: "runner-cache",
          shared: false,
        };
        await using first = await startRunner({
          env: ENV,
          config: s3RunnerConfig(gitlab.url, a.token, s3),
        });
        await using second = await startRunner({
          env: ENV,
          config: s3RunnerConfig(gitlab.url, b.token, s3),
        });
        const write = gitlab.enqueueJob({
          project: "acme/own-cache",
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
        const name = `runner/${shortToken(a.token)}/project/${project}/deps`;
        assert.deepEqual(await gw.listObjects("runner-cache", `runner/${shortToken(a.token)}/`), [
          name,
        ]);

        const read = gitlab.enqueueJob({
          project: "acme/own-cache",
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
      "over HTTPS with a private CA: NODE_EXTRA_CA_CERTS in the runner's environment reaches the uploads and downloads",
      async () => {
        // The machine's own extra CAs (a proxy's) stay trusted alongside the test's.
        const bundle = `${ca.dir}/bundle.pem`;
        const machine = Deno.env.get("NODE_EXTRA_CA_CERTS");
        await Deno.writeTextFile(
          bundle,
          (machine ? await Deno.readTextFile(machine).catch(() => "") : "") + "\n" +
            await Deno.readTextFile(ca.caFile),
        );
        const a = gitlab.createRunner({ kind: "created" });
        const s3 = {
          address: gw.tlsAddress!,
          accessKey: gw.accessKey,
          secretKey: gw.secretKey,
          bucket: "runner-cache",
          shared: true,
          insecure: false,
        };
        await using runner = await startRunner({
          env: { ...ENV, NODE_EXTRA_CA_CERTS: bundle },
          config: s3RunnerConfig(gitlab.url, a.token, s3),
        });
        const write = gitlab.enqueueJob({
          project: "acme/tls-cache",
          script: [
            "mkdir -p vendor",
            "echo over-tls > vendor/lib.txt",
            'echo "PROJECT=$CI_PROJECT_ID"',
          ],
          cache: cacheOf("deps"),
          variables: [NO_GIT],
          runnerId: a.id,
        });
        const written = await gitlab.waitForJobFinished(write.id, TIMEOUT);
        assert.equal(written.status, "success", written.trace + runner.log);
        assert.match(written.trace, new RegExp(`Uploading cache.zip to https://${gw.tlsAddress}/`));
        assert.doesNotMatch(written.trace, /WARNING: Cannot/, written.trace);
        const project = /PROJECT=(\d+)/.exec(written.trace)?.[1];
        assert.deepEqual(await gw.listObjects("runner-cache", `project/${project}/`), [
          `project/${project}/deps`,
        ]);
        const b = gitlab.createRunner({ kind: "created" });
        await using second = await startRunner({
          env: { ...ENV, NODE_EXTRA_CA_CERTS: bundle },
          config: s3RunnerConfig(gitlab.url, b.token, s3),
        });
        const read = gitlab.enqueueJob({
          project: "acme/tls-cache",
          script: ["cat vendor/lib.txt"],
          cache: cacheOf("deps"),
          variables: [NO_GIT],
          runnerId: b.id,
        });
        const restored = await gitlab.waitForJobFinished(read.id, TIMEOUT);
        assert.equal(restored.status, "success", restored.trace + second.log);
        assert.match(restored.trace, /\nover-tls\n/);
      },
    );

    await t.step(
      "a missing bucket, a wrong secret key and an oversized archive are warnings; the jobs succeed",
      async () => {
        const base = {
          address: gw.address,
          accessKey: gw.accessKey,
          secretKey: gw.secretKey,
          bucket: "runner-cache",
          shared: true,
        };
        const cases = [
          {
            s3: { ...base, bucket: "no-such-bucket" },
            expect:
              /WARNING: Cannot upload cache: the server answered 404 NoSuchBucket.*\(the bucket in \[runners.cache\] does not exist\)/,
          },
          {
            s3: { ...base, secretKey: "wrong" },
            expect: /WARNING: Cannot upload cache: the server answered 403 SignatureDoesNotMatch/,
          },
          {
            s3: { ...base, maxUploadedArchiveSize: 10 },
            expect:
              /Cache archive size \(\d+\) is too big \(Limit is set to 10\)\. Cache will be stored only locally\./,
          },
        ];
        // Concurrently: each case is its own runner process.
        await Promise.all(cases.map(async (c) => {
          const r = gitlab.createRunner({ kind: "created" });
          await using runner = await startRunner({
            env: ENV,
            config: s3RunnerConfig(gitlab.url, r.token, c.s3),
          });
          const job = gitlab.enqueueJob({
            project: "acme/broken-cache",
            script: ["mkdir -p vendor", "echo x > vendor/lib.txt"],
            cache: cacheOf(`key-${crypto.randomUUID().slice(0, 8)}`),
            variables: [NO_GIT],
            runnerId: r.id,
          });
          const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
          assert.equal(state.status, "success", state.trace + runner.log);
          assert.match(state.trace, c.expect, state.trace);
        }));
      },
    );
  },
});

Deno.test({
  name:
    "distributed cache on radosgw with RoleARN: the keys assume the role and the URLs are signed with its temporary credentials; a role that cannot be assumed is a warning",
  ignore: skip !== null,
  async fn() {
    await using gw = await startRadosgw({ sts: true });
    await gw.createBucket("runner-cache");
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });

    const roleArn = await gw.createRole("runner-cache");
    const s3 = {
      address: gw.address,
      accessKey: gw.accessKey,
      secretKey: gw.secretKey,
      bucket: "runner-cache",
      shared: true,
      roleArn,
    };
    const a = gitlab.createRunner({ kind: "created" });
    await using runner = await startRunner({
      env: cleanHome(),
      config: s3RunnerConfig(gitlab.url, a.token, s3),
    });
    const write = gitlab.enqueueJob({
      project: "acme/role-cache",
      script: [
        "mkdir -p vendor",
        "echo via-role > vendor/lib.txt",
        'echo "PROJECT=$CI_PROJECT_ID"',
      ],
      cache: cacheOf("deps"),
      variables: [NO_GIT],
      runnerId: a.id,
    });
    const written = await gitlab.waitForJobFinished(write.id, TIMEOUT);
    assert.equal(written.status, "success", written.trace + runner.log);
    assert.doesNotMatch(written.trace, /Cannot|No URL/, written.trace);
    const project = /PROJECT=(\d+)/.exec(written.trace)?.[1];
    assert.deepEqual(await gw.listObjects("runner-cache", `project/${project}/`), [
      `project/${project}/deps`,
    ]);
    // Another runner, whose local cache is empty: the archive comes from the bucket.
    const b = gitlab.createRunner({ kind: "created" });
    await using second = await startRunner({
      env: cleanHome(),
      config: s3RunnerConfig(gitlab.url, b.token, s3),
    });
    const read = gitlab.enqueueJob({
      project: "acme/role-cache",
      script: ["cat vendor/lib.txt"],
      cache: cacheOf("deps"),
      variables: [NO_GIT],
      runnerId: b.id,
    });
    const restored = await gitlab.waitForJobFinished(read.id, TIMEOUT);
    assert.equal(restored.status, "success", restored.trace + second.log);
    assert.match(restored.trace, /Downloading cache from http:\/\/.*\/deps\s/);
    assert.match(restored.trace, /\nvia-role\n/);

    const c = gitlab.createRunner({ kind: "created" });
    await using refused = await startRunner({
      env: cleanHome(),
      config: s3RunnerConfig(gitlab.url, c.token, {
        ...s3,
        roleArn: "arn:aws:iam:::role/no-such-role",
      }),
    });
    const job = gitlab.enqueueJob({
      project: "acme/role-cache",
      script: ["mkdir -p vendor", "echo x > vendor/lib.txt"],
      cache: cacheOf("other"),
      variables: [NO_GIT],
      runnerId: c.id,
    });
    const state = await gitlab.waitForJobFinished(job.id, TIMEOUT);
    assert.equal(state.status, "success", state.trace + refused.log);
    assert.match(
      state.trace,
      /WARNING: No URL for the distributed cache: Cannot assume role "arn:aws:iam:::role\/no-such-role" at http:\/\/127\.0\.0\.1:\d+: STS answered \d+/,
    );
  },
});
