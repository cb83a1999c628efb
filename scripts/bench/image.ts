/**
 * The container image: its size, and how long `runner --version` takes to
 * start in it. The image is the Dockerfile's final stage rebuilt from local
 * parts (tests/fixtures/runner_image.ts): the compiled binary when DENORT_BIN
 * is set, otherwise the deno + sources stand-in.
 *
 * Baseline, measured in the same run: `docker run --rm` of the busybox test
 * image running `true`, i.e. what starting any container costs here. The
 * runner's own start is the difference; the ratio is the whole command's time
 * over the baseline's. Goals: image ≤ 120 MB, start ≤ 300 ms.
 *
 *   deno run --allow-all scripts/bench/image.ts [--runs 10] [--quick]
 *
 * Needs root and dockerd with the busybox test image: run
 * `deno run --allow-all tests/fixtures/docker_images.ts` first (.ci/run does).
 */
import { parseArgs } from "node:util";
import {
  BUSYBOX_TEST_IMAGE,
  dockerSkipReason,
  hasImage,
} from "../../tests/fixtures/docker_images.ts";
import { buildRunnerImage } from "../../tests/fixtures/runner_image.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { runs: { type: "string" }, quick: { type: "boolean", default: false } },
});
values.runs ??= values.quick ? "4" : "10";
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  throw new TypeError(`--runs must be a positive integer: got "${values.runs}"`);
}

const skip = (await dockerSkipReason()) ??
  ((await hasImage(BUSYBOX_TEST_IMAGE))
    ? (Deno.uid() === 0 ? null : "building the image needs root")
    : `image ${BUSYBOX_TEST_IMAGE} is missing: run deno run --allow-all tests/fixtures/docker_images.ts`);
if (skip) {
  // deno-lint-ignore no-console -- benchmark output
  console.log(`Skipping the image benchmark: ${skip}`);
  Deno.exit(0);
}

async function timed(args: string[]): Promise<number> {
  const start = performance.now();
  const out = await new Deno.Command("docker", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`docker ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return performance.now() - start;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const image = await buildRunnerImage();
const base: number[] = [];
const runner: number[] = [];
for (let i = 0; i < runs; i++) {
  base.push(await timed(["run", "--rm", BUSYBOX_TEST_IMAGE, "true"]));
  runner.push(await timed(["run", "--rm", image.tag, "--version"]));
}
const mb = image.sizeBytes / 1e6;
const startMs = median(runner) - median(base);
// deno-lint-ignore no-console -- benchmark output
console.log([
  `Image ${image.tag} (${image.kind}): ${mb.toFixed(1)} MB (goal <= 120 MB)`,
  `docker run --rm busybox true (baseline): median ${median(base).toFixed(0)} ms over ${runs} runs`,
  `docker run --rm runner --version: median ${median(runner).toFixed(0)} ms`,
  `runner start in the container: ${startMs.toFixed(0)} ms (goal <= 300 ms), ratio ${
    (median(runner) / median(base)).toFixed(2)
  }x the baseline`,
].join("\n"));
