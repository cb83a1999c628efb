/**
 * The ssh executor against a real sshd on a loopback port (tests/fixtures/sshd.ts).
 * Skips, saying why, when sshd cannot run here.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
// @ts-types="@types/ssh2"
import { utils } from "ssh2";
import type { SshConfig } from "../../config/runner_config.ts";
import { JobFailedError } from "../../job/failure_reason.ts";
import type { LogFields, Logger } from "../../log/logger.ts";
import {
  hashedKnownHostsLine,
  type SshdFixture,
  sshdSkipReason,
  startSshd,
} from "../../../tests/fixtures/sshd.ts";
import type { JobOutput } from "../executor.ts";
import { CollectedOutput, contractScript, testExecutorContract } from "../executor_contract.ts";
import { describeExit } from "./ssh_connection.ts";
import { SshExecutor, type SshExecutorOptions } from "./ssh_executor.ts";

class SilentLogger implements Logger {
  debug(_msg: string, _fields?: LogFields): void {}
  info(_msg: string, _fields?: LogFields): void {}
  warn(_msg: string, _fields?: LogFields): void {}
  error(_msg: string, _fields?: LogFields): void {}
  child(_fields: LogFields): Logger {
    return this;
  }
}

const skip = await sshdSkipReason();
if (skip) {
  // deno-lint-ignore no-console -- a skipped suite must say why
  console.log(`Skipping ssh executor integration tests: ${skip}`);
}
const ignore = skip !== null;
const never = () => new AbortController().signal;

function sshConfig(server: SshdFixture, overrides: Partial<SshConfig> = {}): SshConfig {
  return {
    host: server.host,
    port: String(server.port),
    user: server.user,
    password: "",
    identityFile: server.identityFile,
    disableStrictHostKeyChecking: false,
    knownHostsFile: server.knownHostsFile,
    ...overrides,
  };
}

function executorFor(
  server: SshdFixture,
  output: JobOutput,
  overrides: Partial<SshExecutorOptions> & { ssh?: Partial<SshConfig> } = {},
): SshExecutor {
  const { ssh, ...rest } = overrides;
  return new SshExecutor({
    config: sshConfig(server, ssh),
    shell: "bash",
    buildsDir: `${server.workDir}/builds`,
    cacheDir: `${server.workDir}/cache`,
    output,
    log: new SilentLogger(),
    homeDir: "/nonexistent-runner-home",
    killGraceMs: 1000,
    connect: { attempts: 1, retryDelayMs: 100, keepaliveIntervalMs: 2000, keepaliveCountMax: 3 },
    ...rest,
  });
}

/** One server for the tests that do not break it; started lazily, stopped by the last test. */
let shared: SshdFixture | null = null;
async function server(): Promise<SshdFixture> {
  shared ??= await startSshd();
  return shared;
}

async function expectJobFailure(promise: Promise<unknown>, reason: string, pattern: RegExp) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof JobFailedError, `expected a JobFailedError, got ${String(err)}`);
    assert.equal(err.reason, reason);
    assert.match(err.message, pattern);
    return true;
  });
}

testExecutorContract(
  "ssh",
  async (output) => executorFor(await server(), output),
  skip ? { skip } : {},
);

testExecutorContract(
  "ssh (sh)",
  async (output) => executorFor(await server(), output, { shell: "sh" }),
  skip ? { skip } : {},
);

Deno.test({
  name: "SshExecutor runs an echo job in a login bash and carries its exit code back",
  ignore,
  fn: async () => {
    const output = new CollectedOutput();
    await using executor = executorFor(await server(), output);
    await executor.prepare(never());
    const code = await executor.run(
      {
        stage: "step_script",
        script: contractScript(["echo hello from $(whoami)", "shopt -q login_shell && echo login"]),
      },
      never(),
    );
    assert.equal(code, 0);
    assert.match(output.text(), /Using SSH executor\.\.\./);
    assert.match(output.text(), /hello from runner-ssh-test\n/);
    assert.match(output.text(), /login\n/);
    // The pid marker never reaches the job log.
    assert.doesNotMatch(output.text(), /runner-stage-pid/);
    assert.equal(
      await executor.run({ stage: "step_script", script: contractScript(["exit 42"]) }, never()),
      42,
    );
  },
});

Deno.test({
  name: "SshExecutor defaults builds_dir and cache_dir to builds and cache in the remote home",
  ignore,
  fn: async () => {
    await using executor = executorFor(await server(), new CollectedOutput(), {
      buildsDir: "",
      cacheDir: "",
    });
    assert.equal(executor.paths.buildsDir, "builds");
    await executor.prepare(never());
    assert.deepEqual(executor.paths, {
      buildsDir: "/home/runner-ssh-test/builds",
      cacheDir: "/home/runner-ssh-test/cache",
      isBuildsDirShared: true,
    });
    assert.equal(executor.isSharedEnvironment, true);
  },
});

Deno.test({
  name: "SshExecutor logs in with the password alone",
  ignore,
  fn: async () => {
    const s = await server();
    const output = new CollectedOutput();
    await using executor = executorFor(s, output, {
      ssh: { identityFile: "", password: s.password },
    });
    await executor.prepare(never());
    assert.equal(
      await executor.run({ stage: "step_script", script: contractScript(["echo pw-ok"]) }, never()),
      0,
    );
    assert.match(output.text(), /pw-ok/);
  },
});

Deno.test({
  name: "SshExecutor reports a refused password naming the user and host",
  ignore,
  fn: async () => {
    const s = await server();
    await using executor = executorFor(s, new CollectedOutput(), {
      ssh: { identityFile: "", password: "not-the-password" },
    });
    await expectJobFailure(
      executor.prepare(never()),
      "runner_system_failure",
      new RegExp(
        `SSH authentication as "runner-ssh-test" on "127.0.0.1:${s.port}" failed: the server refused the password`,
      ),
    );
  },
});

Deno.test({
  name: "SshExecutor uses an encrypted identity_file with the password as passphrase",
  ignore,
  fn: async () => {
    const s = await server();
    const output = new CollectedOutput();
    await using executor = executorFor(s, output, {
      ssh: { identityFile: s.encryptedIdentityFile, password: s.identityPassphrase },
    });
    await executor.prepare(never());
    assert.equal(
      await executor.run(
        { stage: "step_script", script: contractScript(["echo key-ok"]) },
        never(),
      ),
      0,
    );
    assert.match(output.text(), /key-ok/);
  },
});

Deno.test({
  name: "SshExecutor logs in with ECDSA identity_files in OpenSSH format, whatever their scalar",
  ignore,
  fn: async () => {
    const s = await server();
    for (const bits of ["256", "384"]) {
      // ssh2 alone cannot sign with a key whose scalar has its top bit set (half of
      // them): make keys until one is such, so the test fails without the repair.
      let file = "";
      for (let i = 0; i < 16; i++) {
        file = `${s.dir}/id_ecdsa_${bits}_${i}`;
        const made = await new Deno.Command("ssh-keygen", {
          args: ["-q", "-t", "ecdsa", "-b", bits, "-N", "", "-f", file],
        }).output();
        assert.ok(made.success, new TextDecoder().decode(made.stderr));
        const parsed = utils.parseKey(await Deno.readTextFile(file));
        assert.ok(!(parsed instanceof Error) && !Array.isArray(parsed));
        if (parsed.sign(Buffer.from("x")) instanceof Error) break;
      }
      await Deno.writeTextFile(`${s.dir}/authorized_keys`, await Deno.readTextFile(`${file}.pub`), {
        append: true,
      });
      const output = new CollectedOutput();
      await using executor = executorFor(s, output, { ssh: { identityFile: file } });
      await executor.prepare(never());
      assert.equal(
        await executor.run(
          { stage: "step_script", script: contractScript([`echo ecdsa-${bits}-ok`]) },
          never(),
        ),
        0,
      );
      assert.match(output.text(), new RegExp(`ecdsa-${bits}-ok`));
    }
  },
});

Deno.test({
  name: "SshExecutor explains an encrypted identity_file it cannot decrypt",
  ignore,
  fn: async () => {
    const s = await server();
    await using noPassphrase = executorFor(s, new CollectedOutput(), {
      ssh: { identityFile: s.encryptedIdentityFile },
    });
    await expectJobFailure(
      noPassphrase.prepare(never()),
      "runner_configuration_error",
      /Cannot use \[runners\.ssh\] identity_file ".*id_ed25519_encrypted": it is encrypted and no passphrase is set/,
    );
    await using wrong = executorFor(s, new CollectedOutput(), {
      ssh: { identityFile: s.encryptedIdentityFile, password: "wrong" },
    });
    await expectJobFailure(
      wrong.prepare(never()),
      "runner_configuration_error",
      /it is encrypted and \[runners\.ssh\] password does not decrypt it/,
    );
    await using missing = executorFor(s, new CollectedOutput(), {
      ssh: { identityFile: `${s.dir}/no-such-key` },
    });
    await expectJobFailure(
      missing.prepare(never()),
      "runner_configuration_error",
      /Cannot read \[runners\.ssh\] identity_file ".*no-such-key"/,
    );
    // The public half (id_ed25519.pub) named by mistake: refused before connecting.
    await Deno.writeTextFile(`${s.dir}/public_only.pub`, `${s.hostKey} comment\n`);
    const publicOnly = new CollectedOutput();
    await using pub = executorFor(s, publicOnly, {
      ssh: { identityFile: `${s.dir}/public_only.pub` },
      connect: { attempts: 2, retryDelayMs: 100 },
    });
    await expectJobFailure(
      pub.prepare(never()),
      "runner_configuration_error",
      /Cannot use \[runners\.ssh\] identity_file ".*public_only\.pub": it holds a public key \(ssh-ed25519\), not a private key/,
    );
    assert.doesNotMatch(publicOnly.text(), /WARNING: SSH connection attempt/);
  },
});

Deno.test({
  name: "SshExecutor refuses a changed host key, naming the host and both fingerprints",
  ignore,
  fn: async () => {
    const s = await server();
    // A valid ed25519 key that is not the server's.
    const otherKey =
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK8XFqOr3OLNXaoe1nS7LNJSuTObl6Mwp0gs4+6P/6l5";
    const knownHosts = `${s.dir}/known_hosts_changed`;
    await Deno.writeTextFile(knownHosts, `[127.0.0.1]:${s.port} ${otherKey}\n`);
    await using executor = executorFor(s, new CollectedOutput(), {
      ssh: { knownHostsFile: knownHosts },
      connect: { attempts: 3, retryDelayMs: 100 },
    });
    await expectJobFailure(
      executor.prepare(never()),
      "runner_system_failure",
      new RegExp(
        `^Host key verification failed for "\\[127\\.0\\.0\\.1\\]:${s.port}": the host key changed: the server offered ${
          s.hostKeyFingerprint.replace(/[+/]/g, "\\$&")
        } \\(ssh-ed25519\\), known_hosts file ".*known_hosts_changed" line 1 has SHA256:5HQcKDu3i3swtX0O5dbAxpyRv8u7wtNKCfoS72nqldY`,
      ),
    );
  },
});

Deno.test({
  name: "SshExecutor refuses an unknown host by default and accepts it with strict checking off",
  ignore,
  fn: async () => {
    const s = await server();
    const empty = `${s.dir}/known_hosts_empty`;
    await Deno.writeTextFile(empty, "# nothing yet\n");
    await using strict = executorFor(s, new CollectedOutput(), { ssh: { knownHostsFile: empty } });
    await expectJobFailure(
      strict.prepare(never()),
      "runner_system_failure",
      new RegExp(
        `Host key verification failed for "\\[127\\.0\\.0\\.1\\]:${s.port}": unknown host key ${
          s.hostKeyFingerprint.replace(/[+/]/g, "\\$&")
        } \\(ssh-ed25519\\)`,
      ),
    );

    // The host's own line, broken (a key pasted cut short): the refusal says it was skipped.
    const broken = `${s.dir}/known_hosts_broken`;
    await Deno.writeTextFile(
      broken,
      `# ours\n[127.0.0.1]:${s.port} ${s.hostKey.slice(0, -10)}\n`,
    );
    await using brokenLine = executorFor(s, new CollectedOutput(), {
      ssh: { knownHostsFile: broken },
    });
    await expectJobFailure(
      brokenLine.prepare(never()),
      "runner_system_failure",
      /unknown host key .* not in known_hosts file ".*known_hosts_broken"; a line of it could not be read and was skipped \(line 2: the key is not valid base64 of a "ssh-ed25519" key\); add it there/,
    );

    const output = new CollectedOutput();
    await using relaxed = executorFor(s, output, {
      ssh: { knownHostsFile: `${s.dir}/does-not-exist`, disableStrictHostKeyChecking: true },
    });
    await relaxed.prepare(never());
    assert.equal(
      await relaxed.run(
        { stage: "step_script", script: contractScript(["echo relaxed"]) },
        never(),
      ),
      0,
    );
    assert.match(output.text(), /relaxed/);
  },
});

Deno.test({
  name: "SshExecutor accepts a hashed known_hosts entry and names a missing known_hosts file",
  ignore,
  fn: async () => {
    const s = await server();
    const hashed = `${s.dir}/known_hosts_hashed`;
    await Deno.writeTextFile(
      hashed,
      `${await hashedKnownHostsLine(`[127.0.0.1]:${s.port}`, s.hostKey)}\n`,
    );
    await using ok = executorFor(s, new CollectedOutput(), { ssh: { knownHostsFile: hashed } });
    await ok.prepare(never());

    await using missing = executorFor(s, new CollectedOutput(), {
      ssh: { knownHostsFile: `${s.dir}/absent_known_hosts` },
    });
    await expectJobFailure(
      missing.prepare(never()),
      "runner_configuration_error",
      /Cannot read known_hosts file ".*absent_known_hosts" to verify the host key of "127\.0\.0\.1"/,
    );
  },
});

Deno.test({
  name: "SshExecutor retries a refused connection and then names the host",
  ignore,
  fn: async () => {
    const s = await server();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closedPort = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const output = new CollectedOutput();
    await using executor = executorFor(s, output, {
      ssh: { port: String(closedPort) },
      connect: { attempts: 2, retryDelayMs: 50 },
    });
    await expectJobFailure(
      executor.prepare(never()),
      "runner_system_failure",
      new RegExp(
        `Cannot connect to SSH server "runner-ssh-test@127\\.0\\.0\\.1:${closedPort}" after 2 attempts: .*ECONNREFUSED`,
      ),
    );
    assert.match(output.text(), /WARNING: SSH connection attempt 1 to 127\.0\.0\.1 failed/);
    // An IPv6 address is bracketed, so the port cannot be read as part of it.
    await using v6 = executorFor(s, new CollectedOutput(), {
      ssh: { host: "::1", port: String(closedPort) },
    });
    await expectJobFailure(
      v6.prepare(never()),
      "runner_system_failure",
      new RegExp(
        `Cannot connect to SSH server "runner-ssh-test@\\[::1\\]:${closedPort}" after 1 attempt:`,
      ),
    );
  },
});

Deno.test({
  name: "SshExecutor gives up on a server that accepts TCP but never answers the handshake",
  ignore,
  fn: async () => {
    const s = await server();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of listener) held.push(conn);
    })();
    try {
      const port = (listener.addr as Deno.NetAddr).port;
      const output = new CollectedOutput();
      await using executor = executorFor(s, output, {
        ssh: { port: String(port) },
        connect: { attempts: 2, retryDelayMs: 50, readyTimeoutMs: 300 },
      });
      await expectJobFailure(
        executor.prepare(never()),
        "runner_system_failure",
        new RegExp(
          `Cannot connect to SSH server "runner-ssh-test@127\\.0\\.0\\.1:${port}" after 2 attempts: Timed out while waiting for handshake`,
        ),
      );
      assert.match(
        output.text(),
        /WARNING: SSH connection attempt 1 to 127\.0\.0\.1 failed: Timed out/,
      );
      assert.equal(held.length, 2);
    } finally {
      listener.close();
      for (const conn of held) conn.close();
      await accepting.catch(() => {});
    }
  },
});

Deno.test({
  name: 'SshExecutor on a host without bash names shell = "sh", which runs there',
  ignore,
  fn: async () => {
    // Every session's PATH holds sh and nothing else: bash cannot be found.
    const bin = await Deno.makeTempDir({ prefix: "runner-ssh-shonly-" });
    await Deno.chmod(bin, 0o755);
    await Deno.symlink("/bin/sh", `${bin}/sh`);
    try {
      await using s = await startSshd({ path: bin });
      await using bash = executorFor(s, new CollectedOutput());
      await expectJobFailure(
        bash.prepare(never()),
        "runner_system_failure",
        /Cannot start "bash" on "127\.0\.0\.1": exit code 127: .*bash: not found \(a host without bash needs shell = "sh" in \[\[runners\]\]\)/,
      );
      const output = new CollectedOutput();
      await using sh = executorFor(s, output, { shell: "sh" });
      await sh.prepare(never());
      assert.equal(
        await sh.run({ stage: "step_script", script: contractScript(["echo sh-ok"]) }, never()),
        0,
      );
      assert.match(output.text(), /sh-ok/);
    } finally {
      await Deno.remove(bin, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "SshExecutor names sshd's MaxSessions when the host refuses a session for a stage or a kill",
  ignore,
  // A refused try leaves CollectedOutput.waitFor's poll timer behind for a moment.
  sanitizeOps: false,
  fn: async () => {
    // Two sessions: SFTP holds one after prepare. sshd frees a closed session's slot only once
    // it has reaped its process, so a new session may be refused for a moment: try again then.
    await using s = await startSshd({ maxSessions: 2 });
    const output = new CollectedOutput();
    await using executor = executorFor(s, output);
    await executor.prepare(never());
    const isRefusal = (err: unknown) =>
      err instanceof JobFailedError && /check MaxSessions in its sshd_config/.test(err.message);
    const pause = () => new Promise((resolve) => setTimeout(resolve, 200));
    // On a busy machine (CI runs tests in parallel) sshd may take seconds to reap.
    const tryUntil = Date.now() + 30_000;
    let held = null;
    while (held === null && Date.now() < tryUntil) {
      held = await executor.connection!.exec("sleep 60").catch(async (err) => {
        if (!isRefusal(err)) throw err;
        await pause();
        return null;
      });
    }
    assert.ok(held, "no session for the held command");
    // SFTP and the held command: the stage's session is refused, naming the setting.
    await expectJobFailure(
      executor.run({ stage: "step_script", script: contractScript(["echo hi"]) }, never()),
      "runner_system_failure",
      /Cannot start a command on "runner-ssh-test@127\.0\.0\.1:\d+": .*Channel open failure.*: the server refused another session on this connection: .*check MaxSessions in its sshd_config/,
    );
    // sshd keeps a pty-less command (and its session) when the channel closes: end it, once it
    // runs (the channel opens before the session's shell has started it, seconds before on a
    // busy machine; left, it held the session past the stage's 30 s of tries).
    let isHeldKilled = false;
    const heldUntil = Date.now() + 30_000;
    while (!isHeldKilled && Date.now() < heldUntil) {
      for (const p of await s.userProcesses()) {
        if (p.command !== "sleep 60") continue;
        Deno.kill(p.pid, "SIGKILL");
        isHeldKilled = true;
      }
      if (!isHeldKilled) await pause();
    }
    assert.ok(isHeldKilled, "the held command never ran");
    held.channel.close();
    // SFTP and the stage: cancelling it needs a third session, for the kill command.
    const controller = new AbortController();
    let running: Promise<number> | null = null;
    const stageTryUntil = Date.now() + 30_000;
    while (running === null && Date.now() < stageTryUntil) {
      const attempt = executor.run(
        { stage: "step_script", script: contractScript(["echo started", "sleep 1000"]) },
        controller.signal,
      );
      const outcome: unknown = await Promise.race([
        output.waitFor("started").then(() => "started"),
        attempt.then(() => "ended", (err) => err),
      ]);
      if (outcome === "started") running = attempt;
      else if (isRefusal(outcome)) await pause();
      else throw outcome;
    }
    assert.ok(running, "no session for the stage");
    controller.abort();
    assert.notEqual(await running, 0);
    assert.match(
      output.text(),
      /WARNING: processes of the aborted stage may still run on 127\.0\.0\.1: the command to kill its process group could not start \(.*check MaxSessions in its sshd_config\); only its shell was signalled/,
    );
    for (const p of await s.userProcesses()) {
      try {
        Deno.kill(p.pid, "SIGKILL");
      } catch { /* already gone */ }
    }
  },
});

Deno.test({
  name: "SshExecutor cancel kills the remote script and everything it started",
  ignore,
  fn: async () => {
    const s = await server();
    const output = new CollectedOutput();
    await using executor = executorFor(s, output);
    await executor.prepare(never());
    const pidFile = `${s.workDir}/cancel-${crypto.randomUUID()}.pid`;
    const controller = new AbortController();
    const running = executor.run(
      {
        stage: "step_script",
        script: contractScript([
          // A child that ignores SIGTERM: only the SIGKILL sweep ends it.
          `(trap '' TERM; exec sleep 1000) & echo $! > '${pidFile}'`,
          `sleep 1000 & echo $! >> '${pidFile}'`,
          "echo started",
          "sleep 1000",
        ]),
      },
      controller.signal,
    );
    await output.waitFor("started");
    controller.abort();
    const code = await running;
    assert.notEqual(code, 0);
    const pids = (await Deno.readTextFile(pidFile)).trim().split("\n").map(Number);
    assert.equal(pids.length, 2);
    for (const pid of pids) {
      const state = await Deno.readTextFile(`/proc/${pid}/stat`).then(
        (stat) => stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3),
        () => "gone",
      );
      assert.ok(state === "gone" || state === "Z", `process ${pid} survived the cancel (${state})`);
    }
    assert.deepEqual(await s.userProcesses(), []);
  },
});

Deno.test({
  name: "SshExecutor fails the stage with runner_system_failure when the server drops mid-job",
  ignore,
  fn: async () => {
    await using own = await startSshd();
    const output = new CollectedOutput();
    await using executor = executorFor(own, output);
    await executor.prepare(never());
    const running = executor.run(
      { stage: "step_script", script: contractScript(["echo started", "sleep 1000"]) },
      never(),
    );
    await output.waitFor("started");
    await own.dropConnections();
    await expectJobFailure(
      running,
      "runner_system_failure",
      new RegExp(`^SSH connection to "runner-ssh-test@127\\.0\\.0\\.1:${own.port}" lost: `),
    );
    // Later stages fail the same way instead of hanging.
    await expectJobFailure(
      executor.run({ stage: "after_script", script: contractScript(["true"]) }, never()),
      "runner_system_failure",
      /SSH connection to .* lost/,
    );
  },
});

Deno.test({
  name: "SshExecutor notices a host that stops answering through keepalive",
  ignore,
  fn: async () => {
    await using own = await startSshd();
    const output = new CollectedOutput();
    await using executor = executorFor(own, output, {
      connect: { attempts: 1, keepaliveIntervalMs: 300, keepaliveCountMax: 2 },
    });
    await executor.prepare(never());
    const running = executor.run(
      { stage: "step_script", script: contractScript(["echo started", "sleep 1000"]) },
      never(),
    );
    await output.waitFor("started");
    await own.freezeConnections();
    await expectJobFailure(
      running,
      "runner_system_failure",
      /SSH connection to .* lost: no answer to keepalive requests/,
    );
  },
});

Deno.test({
  name: "SshExecutor rejects shells it cannot drive and a bad port",
  fn: () => {
    const base = {
      config: {
        host: "h",
        port: "22",
        user: "",
        password: "",
        identityFile: "",
        disableStrictHostKeyChecking: false,
        knownHostsFile: "",
      },
      shell: "pwsh",
      buildsDir: "",
      cacheDir: "",
      output: new CollectedOutput(),
      log: new SilentLogger(),
      homeDir: "/home/runner",
    };
    assert.throws(() => new SshExecutor(base), /Shell "pwsh" is not supported by the ssh executor/);
    assert.throws(
      () => new SshExecutor({ ...base, shell: "", config: { ...base.config, port: "ssh" } }),
      /Invalid \[runners\.ssh\] port "ssh": expected a number from 1 to 65535/,
    );
    const executor = new SshExecutor({ ...base, shell: "" });
    assert.equal(executor.target.user, "root");
    assert.equal(executor.target.knownHostsFile, "/home/runner/.ssh/known_hosts");
  },
});

/**
 * A TCP relay to `target` that hands on what the server sends `holdMs` after
 * its first byte, in one write: as a client on a loaded machine reads its
 * socket late and finds several of sshd's packets there at once.
 */
function lateReadingRelay(target: SshdFixture, holdMs: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const copies: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ hostname: target.host, port: target.port });
      conns.push(client, server);
      copies.push(copy(client, server, 0), copy(server, client, holdMs));
    }
  })().catch(() => {});
  async function copy(from: Deno.Conn, to: Deno.Conn, hold: number): Promise<void> {
    const held: Uint8Array[] = [];
    let writing = Promise.resolve();
    let isHolding = false;
    const buf = new Uint8Array(1 << 16);
    const writeHeld = async () => {
      isHolding = false;
      const all = new Uint8Array(held.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of held.splice(0)) all.set(c, (at += c.length) - c.length);
      for (let done = 0; done < all.length;) done += await to.write(all.subarray(done));
    };
    try {
      for (let n = await from.read(buf); n !== null; n = await from.read(buf)) {
        held.push(buf.slice(0, n));
        if (isHolding) continue;
        isHolding = true;
        writing = writing.then(() => new Promise((r) => setTimeout(r, hold))).then(writeHeld);
      }
      await writing;
      await to.closeWrite();
    } catch {
      // closed by close()
    }
  }
  return {
    port: listener.addr.port,
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // closed already
        }
      }
      await accepting;
      await Promise.all(copies);
    },
  };
}

Deno.test({
  name:
    "SshExecutor keeps a quick command's exit status when sshd's replies arrive in one read, as on a loaded machine",
  ignore,
  fn: async () => {
    const sshd = await server();
    const relay = lateReadingRelay(sshd, 150);
    try {
      const output = new CollectedOutput();
      await using executor = executorFor(sshd, output, {
        ssh: { host: "127.0.0.1", port: String(relay.port), disableStrictHostKeyChecking: true },
      });
      // The home probe ends at once: its exit status comes with the exec reply.
      await executor.prepare(never());
      assert.equal(executor.paths.buildsDir, `${sshd.workDir}/builds`);
      const connection = executor.connection!;
      assert.deepEqual(
        await connection.execCollect("echo out; exit 7"),
        { code: 7, signal: null, stdout: "out\n", stderr: "" },
      );
      const killed = await connection.execCollect("kill -KILL $$");
      assert.equal(describeExit(killed), "killed by SIGKILL");
      assert.equal(
        await executor.run({ stage: "step_script", script: contractScript(["exit 3"]) }, never()),
        3,
      );
    } finally {
      await relay.close();
    }
  },
});

Deno.test({
  name: "describeExit names the exit code, the signal, or that sshd said neither",
  fn: () => {
    assert.equal(describeExit({ code: 0, signal: null }), "exit code 0");
    assert.equal(describeExit({ code: null, signal: "SIGTERM" }), "killed by SIGTERM");
    assert.equal(
      describeExit(null),
      "the channel closed without an exit status or signal",
    );
  },
});

Deno.test({
  name: "ssh fixture stops",
  ignore,
  fn: async () => {
    await shared?.stop();
    shared = null;
  },
});
