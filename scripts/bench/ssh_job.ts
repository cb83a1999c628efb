/**
 * The ssh executor against OpenSSH's own client, on a throwaway sshd on a
 * loopback port (tests/fixtures/sshd.ts), measured in the same run and
 * alternating so both see the same machine load. Prints medians and ratios
 * (ours / baseline):
 *
 * - `job`: a trivial job end to end (connect + prepare + one `echo hello`
 *   stage + cleanup) versus `ssh -i key -p PORT host 'echo hello'`.
 * - `stage`: one more `echo hello` stage on the open connection, for scale.
 * - `upload`: collecting a 100 MB artifact tree from the remote host over
 *   SFTP (tree walk + every file streamed to local files) versus
 *   `scp -r host:tree dir`; and `zip` the same tree zipped (level
 *   "fastest") straight from SFTP, as artifact upload does.
 *
 *   deno run --allow-all scripts/bench/ssh_job.ts [--runs 5] [--mb 100] [--quick]
 *
 * `--mb` is the artifact tree's size, a multiple of 10 (10 directories of
 * 1 MB files); `--quick` times 3 runs of a 20 MB tree.
 *
 * Goals: job ≤ 1.5×, upload ≤ 1.5× the baseline.
 */
import { parseArgs } from "node:util";
import type { ArchiveSource } from "../../src/archive/archive_source.ts";
import { zipStream } from "../../src/archive/zip_writer.ts";
import { contractScript } from "../../src/executors/executor_contract.ts";
import { SshExecutor } from "../../src/executors/ssh/ssh_executor.ts";
import { type SshdFixture, sshdSkipReason, startSshd } from "../../tests/fixtures/sshd.ts";
import { SilentLogger } from "../../src/log/logger.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string" },
    mb: { type: "string" },
    quick: { type: "boolean", default: false },
  },
});
args.values.runs ??= args.values.quick ? "3" : "5";
const runs = Number(args.values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  throw new TypeError(`--runs must be a positive integer: got "${args.values.runs}"`);
}
args.values.mb ??= args.values.quick ? "20" : "100";
const treeMb = Number(args.values.mb);
// The tree is 10 directories of 1 MB files: its size goes by 10 MB.
if (!Number.isInteger(treeMb) || treeMb < 10 || treeMb % 10 !== 0) {
  throw new TypeError(`--mb must be a multiple of 10 (10, 20, …): got "${args.values.mb}"`);
}

const sink = { write(_chunk: Uint8Array): void {} };
const never = () => new AbortController().signal;

function executor(server: SshdFixture): SshExecutor {
  return new SshExecutor({
    config: {
      host: server.host,
      port: String(server.port),
      user: server.user,
      password: "",
      identityFile: server.identityFile,
      disableStrictHostKeyChecking: false,
      knownHostsFile: server.knownHostsFile,
    },
    shell: "bash",
    buildsDir: `${server.workDir}/builds`,
    cacheDir: `${server.workDir}/cache`,
    output: sink,
    log: new SilentLogger(),
    homeDir: "/nonexistent",
    connect: { attempts: 1 },
  });
}

function sshArgs(server: SshdFixture): string[] {
  return [
    "-i",
    server.identityFile,
    "-o",
    `UserKnownHostsFile=${server.knownHostsFile}`,
    "-o",
    "BatchMode=yes",
  ];
}

async function command(cmd: string, argv: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args: argv, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`);
  }
}

async function time(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function report(
  name: string,
  ours: number[],
  baseline: number[],
  baselineName: string,
  goal: number,
) {
  const o = median(ours);
  const b = median(baseline);
  // deno-lint-ignore no-console -- benchmark output
  console.log(
    `${name.padEnd(8)} ours ${o.toFixed(1)} ms, ${baselineName} ${b.toFixed(1)} ms: ratio ${
      (o / b).toFixed(2)
    }x (goal <= ${goal}x)`,
  );
}

async function walk(source: ArchiveSource, dir = ""): Promise<{ path: string; kind: string }[]> {
  const out: { path: string; kind: string }[] = [];
  const entries = await source.readDir(dir);
  for (const e of entries) {
    const path = dir === "" ? e.name : `${dir}/${e.name}`;
    out.push({ path, kind: e.kind });
    if (e.kind === "dir") out.push(...await walk(source, path));
  }
  return out;
}

const skip = await sshdSkipReason();
if (skip) {
  // deno-lint-ignore no-console -- benchmark output
  console.log(`Skipping ssh_job benchmark: ${skip}`);
  Deno.exit(0);
}

await using server = await startSshd();
const target = `${server.user}@${server.host}`;

// --- trivial job ---------------------------------------------------------
const jobOurs: number[] = [];
const jobSsh: number[] = [];
const stageOurs: number[] = [];
for (let i = 0; i < runs + 1; i++) {
  const ours = await time(async () => {
    await using ex = executor(server);
    await ex.prepare(never());
    await ex.run({ stage: "step_script", script: contractScript(["echo hello"]) }, never());
  });
  const ssh = await time(() =>
    command("ssh", [...sshArgs(server), "-p", String(server.port), target, "echo hello"])
  );
  if (i === 0) continue; // warm-up
  jobOurs.push(ours);
  jobSsh.push(ssh);
}
{
  await using ex = executor(server);
  await ex.prepare(never());
  for (let i = 0; i < runs; i++) {
    stageOurs.push(
      await time(async () => {
        await ex.run({ stage: "step_script", script: contractScript(["echo hello"]) }, never());
      }),
    );
  }
}
report("job", jobOurs, jobSsh, "ssh", 1.5);
// deno-lint-ignore no-console -- benchmark output
console.log(`stage    one more stage on the open connection: ${median(stageOurs).toFixed(1)} ms`);

// --- 100 MB artifact tree --------------------------------------------------
const tree = `${server.workDir}/tree`;
{
  await using ex = executor(server);
  await ex.prepare(never());
  // 10 dirs × (treeMb/10 files of ~1 MB random + 50 small text files).
  const perDir = treeMb / 10;
  const code = await ex.run({
    stage: "step_script",
    script: contractScript([
      `mkdir -p '${tree}'`,
      `cd '${tree}'`,
      `for d in 0 1 2 3 4 5 6 7 8 9; do mkdir -p dir$d; i=0; while [ $i -lt ${perDir} ]; do head -c 1048576 /dev/urandom > dir$d/blob$i.bin; i=$((i+1)); done; j=0; while [ $j -lt 50 ]; do echo "small file $j in $d" > dir$d/note$j.txt; j=$((j+1)); done; done`,
    ]),
  }, never());
  if (code !== 0) throw new Error(`Cannot make the ${treeMb} MB tree (exit code ${code})`);
}

const uploadOurs: number[] = [];
const uploadScp: number[] = [];
const zipOurs: number[] = [];
for (let i = 0; i < runs; i++) {
  const localOurs = await Deno.makeTempDir({ prefix: "runner-ssh-bench-ours-" });
  const localScp = await Deno.makeTempDir({ prefix: "runner-ssh-bench-scp-" });
  try {
    await using ex = executor(server);
    await ex.prepare(never());
    const source = ex.files().archiveSource(tree);
    uploadOurs.push(
      await time(async () => {
        const entries = await walk(source);
        for (const e of entries.filter((e) => e.kind === "dir")) {
          await Deno.mkdir(`${localOurs}/${e.path}`, { recursive: true });
        }
        // Several files at once, as the zip writer's look-ahead does.
        const files = entries.filter((e) => e.kind === "file");
        let next = 0;
        await Promise.all(Array.from({ length: 8 }, async () => {
          while (next < files.length) {
            const e = files[next++]!;
            const stream = await source.openFile(e.path);
            await stream.pipeTo((await Deno.create(`${localOurs}/${e.path}`)).writable);
          }
        }));
      }),
    );
    zipOurs.push(
      await time(async () => {
        const paths = (await walk(source)).map((e) => e.path);
        for await (const _ of zipStream(source, paths, { level: "fastest" })) { /* discard */ }
      }),
    );
    uploadScp.push(
      await time(() =>
        command("scp", [
          ...sshArgs(server),
          "-q",
          "-r",
          "-P",
          String(server.port),
          `${target}:${tree}`,
          localScp,
        ])
      ),
    );
  } finally {
    await Deno.remove(localOurs, { recursive: true });
    await Deno.remove(localScp, { recursive: true });
  }
}
report("upload", uploadOurs, uploadScp, "scp -r", 1.5);
report("zip", zipOurs, uploadScp, "scp -r", 2);
// deno-lint-ignore no-console -- benchmark output
console.log(
  `tree     ${treeMb} MB: SFTP ${(treeMb / (median(uploadOurs) / 1000)).toFixed(0)} MB/s, scp ${
    (treeMb / (median(uploadScp) / 1000)).toFixed(0)
  } MB/s`,
);
