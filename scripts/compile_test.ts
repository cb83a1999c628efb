import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  compilePlan,
  explainCompileFailure,
  formatBuiltAt,
  parseCompileArgs,
  PERMISSION_FLAGS,
  sha256Line,
  stampBuildInfo,
  TARGETS,
  withCompileExclude,
} from "./compile.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const SCRIPT = join(ROOT, "scripts", "compile.ts");
const BUILD_INFO = join(ROOT, "src", "cli", "build_info.ts");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function runCompile(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const clean = Deno.env.toObject();
  // The result must not depend on the developer's shell or on GitLab CI's variables.
  for (const name of ["DENORT_BIN", "CI_COMMIT_SHA", "CI_COMMIT_REF_NAME"]) delete clean[name];
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", SCRIPT, ...args],
    cwd: ROOT,
    env: { ...clean, ...env, "DENO_NO_UPDATE_CHECK": "1" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

async function git(args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd: ROOT, stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(path)) names.push(entry.name);
  return names.sort();
}

Deno.test("compile --dry-run prints one deno compile command per target and builds nothing", async () => {
  const out = await Deno.makeTempDir();
  const buildInfoBefore = await Deno.readTextFile(BUILD_INFO);
  try {
    const run = await runCompile(["--dry-run", "--out", out]);
    assert.equal(run.code, 0, run.stderr);
    const commands = run.stdout.split("\n").filter((l) => l.startsWith("deno compile "));
    assert.equal(commands.length, 5);
    for (const [target, name] of Object.entries(TARGETS)) {
      const line = commands.find((c) => c.includes(`--target ${target} `));
      assert.ok(line, `no command for ${target} in:\n${run.stdout}`);
      assert.ok(line.includes(`--output ${join(out, name)} `), line);
      assert.ok(line.includes(PERMISSION_FLAGS.join(" ")), line);
      assert.ok(
        line.includes(
          " --v8-flags=--max-semi-space-size=1,--expose-gc-as=runnerGc,--invocation-count-for-maglev=1200,--invocation-count-for-maglev-osr=300 ",
        ),
        line,
      );
      // Baked in for the poller too, whose trace pipeline needs the optimizing compilers.
      assert.ok(!line.includes("--max-opt"), line);
      assert.ok(line.endsWith(`${join(out, ".build", "src", "cli", "main.ts")}`), line);
      assert.ok(run.stdout.includes(`sha256sum ${join(out, name)} > ${join(out, name)}.sha256`));
    }
    assert.ok(run.stdout.includes("\ndeno check src/cli/main.ts\n"), run.stdout);
    assert.ok(run.stdout.includes("\ndeno cache --quiet --frozen src/cli/main.ts "), run.stdout);
    // Thousands of npm paths go to the staged deno.json, not to the command line.
    assert.match(
      run.stdout,
      new RegExp(
        `\n# leave out \\d+ npm files and folders \\(scripts/npm_pruning.ts\\): ` +
          `compile.exclude in ${join(out, ".build")}/deno.json\n`,
      ),
    );
    assert.ok(!commands[0]!.includes("--exclude"), commands[0]);
    assert.deepEqual(await listDir(out), [], "a dry run writes nothing");
    assert.equal(await Deno.readTextFile(BUILD_INFO), buildInfoBefore);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("compile --dry-run stamps the git revision and branch, or the CI variables over them", async () => {
  const fromGit = await runCompile(["--dry-run", "--target", "x86_64-apple-darwin"]);
  assert.equal(fromGit.code, 0, fromGit.stderr);
  const revision = await git(["rev-parse", "HEAD"]);
  assert.ok(fromGit.stdout.includes(`revision=${revision} `), fromGit.stdout);

  const fromCi = await runCompile(["--dry-run", "--target", "x86_64-apple-darwin"], {
    "CI_COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567",
    "CI_COMMIT_REF_NAME": "release-1.2",
  });
  assert.equal(fromCi.code, 0, fromCi.stderr);
  assert.match(
    fromCi.stdout,
    /revision=0123456789abcdef0123456789abcdef01234567 branch=release-1\.2 builtAt=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000/,
  );
  const commands = fromCi.stdout.split("\n").filter((l) => l.startsWith("deno compile "));
  assert.equal(commands.length, 1);
  assert.ok(commands[0]!.includes("--output dist/runner-darwin-amd64 "), commands[0]);
});

Deno.test("compile --include adds the staged copy of each path", async () => {
  const run = await runCompile([
    "--dry-run",
    "--target",
    "aarch64-apple-darwin",
    "--include",
    "LICENSE",
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.ok(run.stdout.includes("--include dist/.build/LICENSE "), run.stdout);
  assert.ok(run.stdout.includes("copy src, deno.json, deno.lock, LICENSE to dist/.build/"));
  // deno compile does not follow `new Worker(new URL(...))`: the scoped worker is named.
  assert.ok(run.stdout.includes("--include dist/.build/src/cli/executor_worker.ts "), run.stdout);
  assert.ok(run.stdout.includes("--unstable-worker-options"), run.stdout);
});

Deno.test("compile rejects an unknown target, naming it and the valid ones", async () => {
  const run = await runCompile(["--dry-run", "--target", "riscv64-linux"]);
  assert.equal(run.code, 2);
  assert.match(
    run.stderr,
    /Unknown target "riscv64-linux": expected one of x86_64-unknown-linux-gnu,/,
  );
});

Deno.test("compile rejects an --include that does not exist", async () => {
  const run = await runCompile(["--dry-run", "--include", "no/such/asset"]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /Cannot compile: "no\/such\/asset" does not exist/);
});

Deno.test("compile refuses DENORT_BIN with several targets", async () => {
  const run = await runCompile(["--dry-run"], { "DENORT_BIN": "/opt/denort" });
  assert.equal(run.code, 2);
  assert.match(run.stderr, /DENORT_BIN is set, and one denort serves one target/);
});

Deno.test("compile builds the host binary with its checksum, or says denort cannot be downloaded", async () => {
  const target = Object.keys(TARGETS).find((t) =>
    t.startsWith(Deno.build.arch) &&
    t.includes(Deno.build.os === "darwin" ? "apple" : Deno.build.os)
  );
  if (!target) {
    // deno-lint-ignore no-console -- the reason for skipping
    console.log(`Skipped: no runner target for ${Deno.build.target}`);
    return;
  }
  const out = await Deno.makeTempDir();
  const buildInfoBefore = await Deno.readTextFile(BUILD_INFO);
  try {
    // Type checking is the lint job's work; here it would only slow the test.
    const run = await runCompile(["--no-check", "--target", target, "--out", out]);
    const name = TARGETS[target as keyof typeof TARGETS];
    if (run.code === 0) {
      const binary = join(out, name);
      const sums = await Deno.readTextFile(`${binary}.sha256`);
      assert.equal(sums, await sha256Line(binary));
      assert.match(sums, /^[0-9a-f]{64} {2}runner-/);
      const version = await new Deno.Command(binary, { args: ["--version"], stdout: "piped" })
        .output();
      const text = new TextDecoder().decode(version.stdout);
      assert.ok(
        text.includes(`Git revision: ${(await git(["rev-parse", "HEAD"])).slice(0, 8)}`),
        text,
      );
      assert.match(text, /Deno version: deno2\./);
    } else {
      assert.equal(run.code, 1);
      assert.match(
        run.stderr,
        new RegExp(
          `Cannot download the Deno runtime \\(denort\\) for ${target}: this machine has no access to dl\\.deno\\.land; build on a machine with internet access, or set DENORT_BIN to a local denort`,
        ),
      );
      assert.ok(!(await listDir(out)).includes(name), "no binary after a failed build");
    }
    assert.ok(!(await listDir(out)).includes(".build"), "the staging copy is removed");
    assert.equal(await Deno.readTextFile(BUILD_INFO), buildInfoBefore, "the tree is unchanged");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("compile explains a DENORT_BIN that is not a denort", async () => {
  const out = await Deno.makeTempDir();
  try {
    const fake = join(out, "denort");
    await Deno.writeTextFile(fake, "not a runtime\n");
    const run = await runCompile(
      ["--no-check", "--target", "x86_64-unknown-linux-gnu", "--out", out],
      { "DENORT_BIN": fake },
    );
    assert.equal(run.code, 1);
    assert.ok(
      run.stderr.includes(`Cannot use DENORT_BIN="${fake}" for x86_64-unknown-linux-gnu`),
      run.stderr,
    );
    // deno got as far as writing the runtime: the module graph and every embedded
    // npm file went through (scripts/npm_pruning.ts keeps a crashing one out).
    assert.match(run.stderr, /Not an ELF file/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("stampBuildInfo writes the values the compiled binary imports", async () => {
  const info = {
    revision: "f00dfeedf00dfeedf00dfeedf00dfeedf00dfeed",
    branch: "main",
    builtAt: "2024-05-01T10:00:00+0000",
  };
  const stamped = stampBuildInfo(await Deno.readTextFile(BUILD_INFO), info);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "build_info.ts"), stamped);
    const mod = await import(`file://${join(dir, "build_info.ts")}`);
    assert.deepEqual(mod.BUILD_INFO, info);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.throws(
    () => stampBuildInfo("export const BUILD_INFO = {};", info),
    /Cannot stamp src\/cli\/build_info.ts: no `revision: "…"` field/,
  );
});

Deno.test("formatBuiltAt prints the official runner's Built: format", () => {
  assert.equal(
    formatBuiltAt(new Date(Date.UTC(2024, 0, 18, 22, 36, 26, 123))),
    "2024-01-18T22:36:26+0000",
  );
});

Deno.test("compilePlan keeps targets in order and names Windows binaries .exe", () => {
  const options = parseCompileArgs([
    "--target",
    "x86_64-pc-windows-msvc",
    "--target",
    "x86_64-unknown-linux-gnu",
    "--no-check",
    "--out",
    "out",
  ]);
  assert.notEqual(options, "help");
  if (options === "help") return;
  const plan = compilePlan(options);
  assert.equal(plan.check, null);
  assert.deepEqual(plan.steps.map((s) => s.output), [
    "out/runner-windows-amd64.exe",
    "out/runner-linux-amd64",
  ]);
});

Deno.test("withCompileExclude sets compile.exclude in deno.json and keeps the rest", () => {
  const config = JSON.parse(
    withCompileExclude('{"imports":{"a":"npm:a@1"},"compile":{"include":["x"]}}', ["/c/a/test"]),
  );
  assert.deepEqual(config, {
    imports: { a: "npm:a@1" },
    compile: { include: ["x"], exclude: ["/c/a/test"] },
  });
});

Deno.test("explainCompileFailure passes other deno errors through", () => {
  const message = explainCompileFailure(
    "x86_64-unknown-linux-gnu",
    '\x1b[31merror\x1b[0m: Module not found "file:///x/src/cli/nope.ts".',
    undefined,
  );
  assert.equal(
    message,
    `deno compile failed for x86_64-unknown-linux-gnu:\nerror: Module not found "file:///x/src/cli/nope.ts".`,
  );
});
