/**
 * Child process for the kill -9 test: prepares a docker executor (its build
 * container starts), prints `ready <job id>` and waits to be killed.
 * Usage: orphan_maker.ts <state dir> <image> <job id>
 */
import { defaultRunnerConfig } from "../../../config/default_config.ts";
import { parseJobSpec } from "../../../job/job_spec.ts";
import { connectDocker } from "../docker_connection.ts";
import { DockerExecutor } from "../docker_executor.ts";
import { OwnerLease } from "../owner_lease.ts";
import { SilentLogger } from "../../../log/logger.ts";

const [stateDir, image, jobId] = Deno.args;
if (!stateDir || !image || !jobId) {
  throw new TypeError("usage: orphan_maker.ts <state dir> <image> <job id>");
}
const lease = await OwnerLease.acquire(stateDir);
const config = {
  ...defaultRunnerConfig("docker").docker,
  image,
  pullPolicy: ["never"],
  allowedPullPolicies: [],
};
const executor = new DockerExecutor({
  docker: await connectDocker(config),
  config,
  job: parseJobSpec({ id: Number(jobId), token: "t", job_info: { project_id: 777 } }),
  shortToken: "orphan00",
  concurrentProjectId: 0,
  output: { write: () => {} },
  log: new SilentLogger(),
  lease,
  sweepOrphans: false,
});
await executor.prepare(new AbortController().signal);
await Deno.stdout.write(new TextEncoder().encode(`ready ${jobId}\n`));
// Stay alive (a bare pending promise would end the process) until killed.
setInterval(() => {}, 1 << 30);
