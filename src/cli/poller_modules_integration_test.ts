/**
 * What an idle `runner run` loads, in its two threads: the supervising thread
 * (main.ts, then poller_supervisor.ts) and the poller Worker (poller_worker.ts,
 * then commands/run.ts). No `node:` module in either: the first one costs a
 * thread Deno's Node compatibility layer (several MB of an idle runner's
 * RSS, scripts/bench/job_latency.ts figure (c)). No npm package in either: the
 * first one costs the process Deno's npm resolution (~2.5 MB); the supervisor
 * has config.toml read by a child process (cli/config_reader_process.ts). What only a job, a web
 * terminal, run-single or metrics need loads with them, by a dynamic import;
 * so does the config loader (schema, TOML package) in the poller, which runs
 * with the config its supervisor loaded and needs the loader only for an edit.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { staticGraph } from "../../tests/fixtures/static_graph.ts";

const path = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

Deno.test("an idle runner's supervising thread loads no node: module, no npm package, no config loader or schema, no runner-flag table, no metrics", async () => {
  const loaded = await staticGraph([path("./main.ts"), path("./poller_supervisor.ts")]);
  assert.ok(loaded.some((s) => s.endsWith("/src/poller/poller_permissions.ts")), "graph walked");
  assert.deepEqual(loaded.filter((s) => s.startsWith("node:")), []);
  assert.deepEqual(loaded.filter((s) => s.startsWith("npm:") || s.includes("/npm/")), []);
  assert.deepEqual(
    loaded.filter((s) => /\/config\/(load_config|parse_config|schema|default_config)\.ts$/.test(s)),
    [],
  );
  assert.deepEqual(
    loaded.filter((s) =>
      /\/(runner_flags|run_single_flags|metrics_endpoint|prom_client)\.ts$/.test(s) ||
      s.includes("prom-client")
    ),
    [],
  );
});

Deno.test("an idle poller loads no node: module, no trace pipeline, no session server, no run-single flags, no config loader", async () => {
  const loaded = await staticGraph([path("./poller_worker.ts"), path("./commands/run.ts")]);
  assert.ok(loaded.some((s) => s.endsWith("/src/poller/poller.ts")), "graph walked");
  assert.deepEqual(loaded.filter((s) => s.startsWith("node:")), []);
  assert.deepEqual(
    loaded.filter((s) =>
      /\/(job_trace|trace_masker|trace_uploader|crc32|session_server|self_signed_certificate|runner_flags|run_single_flags)\.ts$/
        .test(s)
    ),
    [],
  );
  assert.deepEqual(
    loaded.filter((s) =>
      /\/config\/(load_config|parse_config|schema|default_config|config_diff|save_config|encode_config)\.ts$/
        .test(s) || s.includes("smol-toml")
    ),
    [],
  );
});
