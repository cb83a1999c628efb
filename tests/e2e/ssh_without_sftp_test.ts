/**
 * End to end: the ssh executor against an sshd that has no sftp subsystem.
 * Jobs that move no files run; a job with artifacts fails with a message
 * saying it needs SFTP, and the runner keeps serving.
 */
import assert from "node:assert/strict";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { NO_GIT, runnerToml, startRunner } from "../fixtures/runner_process.ts";
import { sshdSkipReason, startSshd } from "../fixtures/sshd.ts";

const TIMEOUT = { timeoutMs: 120_000 };
const skip = await sshdSkipReason();
// deno-lint-ignore no-console -- a skipped test says why
if (skip) console.log(`SKIP ssh_without_sftp_test: ${skip}`);

Deno.test({
  name:
    "ssh executor on a host without sftp: a job without files runs, one with artifacts fails clearly",
  ignore: skip !== null,
  async fn() {
    await using sshd = await startSshd({ sftp: false });
    await using gitlab = await FakeGitLab.start({ traceUpdateIntervalSeconds: 1 });
    const r = gitlab.createRunner({ kind: "created" });
    const ssh = [
      "  [runners.ssh]",
      `    host = "${sshd.host}"`,
      `    port = "${sshd.port}"`,
      `    user = "${sshd.user}"`,
      `    identity_file = "${sshd.identityFile}"`,
      `    known_hosts_file = "${sshd.knownHostsFile}"`,
    ].join("\n");
    await using runner = await startRunner({
      config: `concurrent = 1\ncheck_interval = 1\n${
        runnerToml(gitlab.url, r.token, { executor: "ssh", "builds_dir": `${sshd.workDir}/builds` })
      }${ssh}\n`,
    });

    const plain = gitlab.enqueueJob({
      script: ["echo no files moved by $(id -un)"],
      variables: NO_GIT,
    });
    const s1 = await gitlab.waitForJobFinished(plain.id, TIMEOUT);
    assert.equal(s1.status, "success", s1.trace + runner.log);
    assert.match(s1.trace, new RegExp(`no files moved by ${sshd.user}`));

    const withFiles = gitlab.enqueueJob({
      script: ["echo out > out.txt"],
      artifacts: [{ paths: ["out.txt"], when: "on_success" }],
      variables: NO_GIT,
    });
    const s2 = await gitlab.waitForJobFinished(withFiles.id, TIMEOUT);
    assert.equal(s2.status, "failed", s2.trace + runner.log);
    assert.equal(s2.failureReason, "runner_system_failure");
    assert.match(
      s2.trace,
      /This job moves files \(artifacts, cache or dependencies\), which needs SFTP on "[^"]+": Cannot start SFTP on "[^"]+" \(is its sftp subsystem enabled\?\)/,
    );
    assert.deepEqual(gitlab.artifactsOf(withFiles.id), []);

    const after = gitlab.enqueueJob({ script: ["echo still serving"], variables: NO_GIT });
    assert.equal((await gitlab.waitForJobFinished(after.id, TIMEOUT)).status, "success");
  },
});
