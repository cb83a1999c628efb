/**
 * Runs one custom-executor job under the Deno permissions the executor
 * process gets (see custom_executor_permissions_integration_test.ts):
 * prepare, a stage that is cancelled while the driver's child sleeps, a
 * normal stage, cleanup. Prints a JSON summary on stdout.
 *
 * Usage: restricted_job.ts <driver> <work dir> [prepare program]
 */
import { defaultRunnerConfig } from "../../../config/default_config.ts";
import { parseJobSpec } from "../../../job/job_spec.ts";
import type { Logger } from "../../../log/logger.ts";
import { CollectedOutput, contractScript } from "../../executor_contract.ts";
import { CustomExecutor } from "../custom_executor.ts";

const [driver = "", dir = "", prepareProgram = driver] = Deno.args;
const silent: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silent,
};
const job = parseJobSpec({ id: 1, token: "t", variables: [{ key: "CI_JOB_ID", value: "1" }] });
const output = new CollectedOutput();
const executor = new CustomExecutor({
  config: {
    ...defaultRunnerConfig("custom").custom,
    configExec: driver,
    configArgs: ["config"],
    prepareExec: prepareProgram,
    prepareArgs: ["prepare"],
    runExec: driver,
    runArgs: ["run"],
    cleanupExec: driver,
    cleanupArgs: ["cleanup"],
    gracefulKillTimeout: 30,
  },
  shell: "",
  buildsDir: `${dir}/builds`,
  cacheDir: `${dir}/cache`,
  cwd: dir,
  env: { ...Deno.env.toObject(), DRIVER_DIR: dir, RUN_MODE: "hang" },
  tempDir: dir,
  job,
  variables: job.variables,
  output,
  log: silent,
});
const summary: Record<string, unknown> = {};
try {
  await executor.prepare(new AbortController().signal);
  const cancel = new AbortController();
  const running = executor.run(
    { stage: "step_script", script: contractScript(["true"]) },
    cancel.signal,
  );
  await output.waitFor("run-hanging");
  cancel.abort();
  summary["cancelledCode"] = await running;
} catch (e) {
  summary["error"] = e instanceof Error ? e.message : String(e);
} finally {
  await executor.cleanup();
}
summary["output"] = output.text();
// deno-lint-ignore no-console -- the test reads the summary from stdout
console.log(JSON.stringify(summary));
