/**
 * The scoped poller worker (cli/poller_worker.ts) started as the supervisor
 * starts it: with its narrowed permission set and the supervisor's init
 * message. An idle poller without a metrics endpoint asks its supervisor for
 * no /proc snapshots; one serving metrics does, once (and waits for the
 * first: the process metrics it registers are those the snapshot has).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab } from "../../tests/fixtures/fake_gitlab.ts";
import { runnerToml } from "../../tests/fixtures/runner_process.ts";
import { loadConfigFile } from "../config/load_config.ts";
import { readProcfsSnapshot } from "../metrics/procfs_snapshot.ts";
import { pollerPermissions, pollerWorkerPermissions } from "../poller/poller_permissions.ts";
import type { PollerWorkerInit } from "./poller_supervisor.ts";
import { startScopedWorker } from "./scoped_worker.ts";
import { versionInfo } from "./version.ts";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Runs the poller worker until GitLab saw `requests` job requests; resolves the messages it posted. */
async function messagesOfIdlePoller(listenAddress: string): Promise<string[]> {
  await using gitlab = await FakeGitLab.start({ longPollHoldMs: 200 });
  const runner = gitlab.createRunner({ kind: "created" });
  const root = await Deno.makeTempDir({ prefix: "runner-poller-worker-" });
  const tempDir = join(root, "tmp");
  await Deno.mkdir(tempDir);
  const configPath = join(root, "config.toml");
  await Deno.writeTextFile(
    configPath,
    `concurrent = 1\ncheck_interval = 1\nlog_level = "error"\n\n${
      runnerToml(gitlab.url, runner.token)
    }`,
  );
  const { config } = await loadConfigFile(configPath, { env: {}, missingFile: "empty" });
  const permissions = pollerPermissions({
    config,
    configPath,
    configTarget: null,
    cwd: root,
    tempDir,
    execPath: Deno.execPath(),
    listenAddress,
    user: "",
    sourceDir: null,
  });
  const args = ["run", "--config", configPath];
  if (listenAddress) args.push("--listen-address", listenAddress);
  const messages: string[] = [];
  const init: PollerWorkerInit = {
    args,
    env: { PATH: Deno.env.get("PATH") ?? "" },
    cwd: root,
    version: versionInfo(),
    tempDir,
    configPath,
    listenAddress,
    user: "",
    sourceDir: null,
    previous: null,
    // As when the supervisor could not load it: the poller loads config.toml itself.
    loaded: null,
    isStale: false,
    staleReason: null,
  };
  const { worker } = startScopedWorker(new URL("./poller_worker.ts", import.meta.url), {
    permissions: pollerWorkerPermissions(permissions),
    init,
    onMessage: (m, w) => {
      const type = String((m as { type?: string }).type);
      messages.push(type);
      // As the supervisor answers (cli/poller_supervisor.ts).
      if (type === "procfs-wanted") {
        w.postMessage({ type: "procfs", snapshot: readProcfsSnapshot() });
      }
    },
    onError: (message) => messages.push(`error: ${message}`),
  });
  try {
    await gitlab.waitFor(() => gitlab.requestsTo("request_job").length >= 3, {
      what: "three job requests",
      timeoutMs: 30_000,
    });
  } finally {
    worker.terminate();
    await Deno.remove(root, { recursive: true });
  }
  return messages;
}

Deno.test({
  name: "an idle poller without a metrics endpoint asks its supervisor for no /proc snapshots",
  // The terminated worker's timers and connections belong to its own isolate.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const messages = await messagesOfIdlePoller("");
    assert.deepEqual(messages.filter((m) => m !== "ready"), []);
  },
});

Deno.test({
  name: "a poller serving metrics asks its supervisor for /proc snapshots once",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const messages = await messagesOfIdlePoller(`127.0.0.1:${freePort()}`);
    assert.deepEqual(messages.filter((m) => m !== "ready"), ["procfs-wanted"]);
  },
});
