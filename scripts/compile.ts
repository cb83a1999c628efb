/**
 * Builds the `runner` single-file binaries with `deno compile`.
 *
 *   deno task compile [--target T ...] [--out dist] [--include PATH ...] [--no-check] [--dry-run]
 *
 * For each target it writes `<out>/runner-<os>-<arch>[.exe]` and, beside it,
 * `<name>.sha256` in `sha256sum` format (`sha256sum -c runner-linux-amd64.sha256`).
 *
 * Build info: `src/cli/build_info.ts` is stamped with the git revision, branch
 * and build time, but never in the working tree. The sources are copied to
 * `<out>/.build/`, stamped there and compiled from there, and the copy is
 * removed afterwards, so an interrupted build cannot leave the tree modified.
 * `CI_COMMIT_SHA` / `CI_COMMIT_REF_NAME` win over git when set: GitLab CI
 * checks out a detached HEAD, and `docker build` has no `.git` to ask.
 *
 * Permissions baked into the binary are global (src/poller/compiled_grants.ts):
 * Deno cannot revoke one path of a global grant at run time, so each process
 * of the binary (the poller, every executor process, the same binary re-executed
 * with `executor-process`) runs its work in a Worker created with its
 * path-scoped set (`--unstable-worker-options`; src/cli/scoped_worker.ts,
 * docs/security.md).
 *
 * `deno compile` downloads the Deno runtime (denort) for each target from
 * dl.deno.land. Without access to it the script says so and exits 1; set
 * `DENORT_BIN` to a local denort to build the one target that denort is for.
 * Exit codes: 0 built, 1 build failed, 2 bad arguments.
 */
import { parseArgs } from "node:util";
import { cp, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { COMPILED_GRANT_FLAGS } from "../src/poller/compiled_grants.ts";
import { RUNNER_V8_FLAGS } from "../src/poller/v8_flags.ts";
import { npmPrunePaths, npmRegistryDir, npmRegistryUrl } from "./npm_pruning.ts";

/** `deno compile --target` values and the Go-style names of their binaries. */
export const TARGETS = {
  "x86_64-unknown-linux-gnu": "runner-linux-amd64",
  "aarch64-unknown-linux-gnu": "runner-linux-arm64",
  "x86_64-apple-darwin": "runner-darwin-amd64",
  "aarch64-apple-darwin": "runner-darwin-arm64",
  "x86_64-pc-windows-msvc": "runner-windows-amd64.exe",
} as const;

export type Target = keyof typeof TARGETS;

/**
 * The grants baked into the binary: global, as only the running binary learns
 * its config directory and GitLab hosts; each process narrows them with a
 * scoped Worker, hence `--unstable-worker-options` (see the module comment).
 */
export const PERMISSION_FLAGS = COMPILED_GRANT_FLAGS;

/**
 * A compiled binary takes V8 flags only when built, for every isolate of
 * every process it runs as: the runner's (poller/v8_flags.ts), a small
 * semi-space that keeps the poller's trace throughput. The optimizing
 * compilers stay on, also in its executor processes: the poller's trace
 * pipeline needs them.
 */
export const V8_FLAGS = RUNNER_V8_FLAGS;

/**
 * Files embedded with `--include` on every build: `deno compile` does not
 * follow `new Worker(new URL(...))`, so the scoped workers' entry modules are
 * named here (their imports come along).
 */
export const INCLUDE: readonly string[] = [
  "src/cli/executor_worker.ts",
  "src/cli/poller_worker.ts",
];

/** Whether a file of the staged folders ships in the binary: tests do not. */
export function isShipped(path: string): boolean {
  return !path.endsWith("_test.ts");
}

/** What is copied to the staging folder: everything the entry point can import. */
const STAGED = ["src", "deno.json", "deno.lock"] as const;
const ENTRY = "src/cli/main.ts";
const BUILD_INFO_FILE = "src/cli/build_info.ts";
const STAGE_DIR = ".build";

export interface BuildInfo {
  revision: string;
  branch: string;
  builtAt: string;
}

export interface CompileOptions {
  targets: Target[];
  /** Output folder, relative to the repository root or absolute. */
  out: string;
  include: string[];
  check: boolean;
  dryRun: boolean;
}

export interface CompileStep {
  target: Target;
  /** Output binary, as given to `--output`. */
  output: string;
  args: string[];
}

export interface CompilePlan {
  /** `deno check` arguments, or null with `--no-check`. */
  check: string[] | null;
  /**
   * `deno cache` arguments: the npm packages are in Deno's cache before the
   * excludes are listed from it (with `--no-check`, nothing else fetches them).
   */
  cache: string[];
  stage: string;
  steps: CompileStep[];
}

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export function parseCompileArgs(args: string[]): CompileOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        target: { type: "string", multiple: true },
        out: { type: "string", default: "dist" },
        include: { type: "string", multiple: true },
        "no-check": { type: "boolean", default: false },
        "dry-run": { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err });
  }
  const { values } = parsed;
  if (values.help) return "help";
  const targets: Target[] = [];
  for (const target of values.target ?? Object.keys(TARGETS)) {
    if (!isTarget(target)) {
      throw new UsageError(
        `Unknown target "${target}": expected one of ${Object.keys(TARGETS).join(", ")}`,
      );
    }
    if (!targets.includes(target)) targets.push(target);
  }
  if (values.out.trim() === "") throw new UsageError(`Empty --out: give an output folder`);
  return {
    targets,
    out: values.out,
    include: [...INCLUDE, ...(values.include ?? [])],
    check: !values["no-check"],
    dryRun: values["dry-run"],
  };
}

function isTarget(value: string): value is Target {
  return Object.hasOwn(TARGETS, value);
}

/** The `deno` arguments for every step; paths relative to the repository root. */
export function compilePlan(options: CompileOptions): CompilePlan {
  const stage = join(options.out, STAGE_DIR);
  const includeFlags = options.include.flatMap((path) => ["--include", join(stage, path)]);
  return {
    check: options.check ? ["check", ENTRY] : null,
    cache: ["cache", "--quiet", "--frozen", ENTRY, ...options.include],
    stage,
    steps: options.targets.map((target) => {
      const output = join(options.out, TARGETS[target]);
      return {
        target,
        output,
        args: [
          "compile",
          "--no-check", // checked once above, on the tree, not once per target
          "--config",
          join(stage, "deno.json"),
          "--target",
          target,
          "--output",
          output,
          ...PERMISSION_FLAGS,
          ...V8_FLAGS,
          ...includeFlags,
          join(stage, ENTRY),
        ],
      };
    }),
  };
}

/**
 * Returns `source` (the text of src/cli/build_info.ts) with the values of
 * `info`. Throws when the file no longer has the shape this script writes.
 */
export function stampBuildInfo(source: string, info: BuildInfo): string {
  let stamped = source;
  for (const key of ["revision", "branch", "builtAt"] as const) {
    const field = new RegExp(`(\\b${key}:\\s*)"[^"\\n]*"`);
    if (!field.test(stamped)) {
      throw new Error(
        `Cannot stamp ${BUILD_INFO_FILE}: no \`${key}: "…"\` field in BUILD_INFO`,
      );
    }
    stamped = stamped.replace(
      field,
      (_, prefix: string) => `${prefix}${JSON.stringify(info[key])}`,
    );
  }
  return stamped;
}

async function denoNpmCache(deno: string): Promise<string> {
  const out = await new Deno.Command(deno, { args: ["info", "--json"], stdout: "piped" }).output();
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { npmCache?: string };
  if (!out.success || !info.npmCache) {
    throw new Error(`Cannot find Deno's npm cache: deno info --json`);
  }
  return info.npmCache;
}

/** deno.json's text with `compile.exclude` set to `exclude`. */
export function withCompileExclude(denoJson: string, exclude: readonly string[]): string {
  const config = JSON.parse(denoJson) as Record<string, unknown>;
  const compile = (config.compile ?? {}) as Record<string, unknown>;
  return `${JSON.stringify({ ...config, compile: { ...compile, exclude } }, null, 2)}\n`;
}

/** Time in the format the official runner prints after `Built:`. */
export function formatBuiltAt(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "+0000");
}

/** Reads revision and branch from the CI variables, else from git; "" when neither knows. */
export async function readBuildInfo(
  root: string,
  env: (name: string) => string | undefined,
  now: Date,
): Promise<BuildInfo> {
  const revision = env("CI_COMMIT_SHA") || await git(root, ["rev-parse", "HEAD"]);
  let branch = env("CI_COMMIT_REF_NAME") || await git(root, ["rev-parse", "--abbrev-ref", "HEAD"]);
  if (branch === "HEAD") branch = ""; // detached: git has no branch name to give
  return { revision, branch, builtAt: formatBuiltAt(now) };
}

async function git(cwd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : "";
  } catch {
    return ""; // no git on this machine (docker build stage): build info stays unknown
  }
}

/** `sha256sum` output for one file: `<hex>  <file name>`. */
export async function sha256Line(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex}  ${basename(path)}\n`;
}

/** Why `deno compile` failed, in words a person can act on. */
export function explainCompileFailure(
  target: Target,
  stderr: string,
  denortBin: string | undefined,
): string {
  // deno 2 prints, when the runtime download fails:
  //   0: Setting up base binary.
  //   1: error sending request for url (https://dl.deno.land/release/v2.x.y/denort-<target>.zip): …
  // and with DENORT_BIN set to a missing or foreign file:
  //   0: Could not find denort at '<path>'   /   1: Invalid object: Not an ELF file
  const plain = stripAnsi(stderr);
  if (denortBin !== undefined && denortBin !== "") {
    if (/Could not find denort|Setting up base binary|Writing binary bytes/.test(plain)) {
      return `Cannot use DENORT_BIN="${denortBin}" for ${target}: ` +
        `it must be the denort of this Deno version built for that target: ${lastCause(plain)}`;
    }
  } else if (/dl\.deno\.land|Setting up base binary|denort/.test(plain)) {
    return `Cannot download the Deno runtime (denort) for ${target}: this machine has no access ` +
      `to dl.deno.land; build on a machine with internet access, or set DENORT_BIN to a local ` +
      `denort: ${lastCause(plain)}`;
  }
  return `deno compile failed for ${target}:\n${plain.trim()}`;
}

function lastCause(stderr: string): string {
  const chain = stderr.split("Stack backtrace:")[0]!;
  const causes = [...chain.matchAll(/^\s*\d+: (.+)$/gm)].map((m) => m[1]!.trim());
  return causes.find((c) => c.includes("error sending request")) ?? causes.at(-1) ??
    chain.trim().split("\n").at(-1) ?? "";
}

function stripAnsi(text: string): string {
  // deno-lint-ignore no-control-regex -- removing the terminal colour codes deno prints
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

/** A command line a shell accepts as is. */
export function shellLine(argv: string[]): string {
  return argv.map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)
    .join(" ");
}

interface Io {
  out(line: string): void;
  err(line: string): void;
}

/** Runs the build; returns the exit code. */
export async function compile(options: CompileOptions, root: string, io: Io): Promise<number> {
  const denortBin = Deno.env.get("DENORT_BIN");
  if (denortBin && options.targets.length > 1) {
    io.err(
      `DENORT_BIN is set, and one denort serves one target: pass the --target it was built for`,
    );
    return 2;
  }
  for (const path of [ENTRY, BUILD_INFO_FILE, ...options.include]) {
    if (!await exists(join(root, path))) {
      io.err(`Cannot compile: "${path}" does not exist in ${root}`);
      return 1;
    }
  }
  const deno = Deno.execPath();
  const out = isAbsolute(options.out) ? options.out : relative(root, resolve(options.out));
  const lock = JSON.parse(await readFile(join(root, "deno.lock"), "utf8"));
  const registry = npmRegistryUrl((name) => Deno.env.get(name));
  const plan = compilePlan({ ...options, out: out === "" ? "." : out });
  if (!options.dryRun) {
    const cached = await new Deno.Command(deno, { args: plan.cache, cwd: root }).output();
    if (!cached.success) {
      io.err(`Cannot fetch the npm packages: deno ${plan.cache.join(" ")} failed`);
      return 1;
    }
  }
  // Thousands of paths, too many for a command line: deno compile reads them
  // from the staged deno.json (`compile.exclude`).
  const exclude = await npmPrunePaths(lock, npmRegistryDir(await denoNpmCache(deno), registry));
  const info = await readBuildInfo(root, (k) => Deno.env.get(k), new Date());
  const stamped = stampBuildInfo(await readFile(join(root, BUILD_INFO_FILE), "utf8"), info);

  if (options.dryRun) {
    io.out(`# from ${root}`);
    io.out(
      `# copy ${staged(options.include).join(", ")} to ${plan.stage}/ and stamp ` +
        `${plan.stage}/${BUILD_INFO_FILE}: revision=${info.revision || "unknown"} ` +
        `branch=${info.branch || "unknown"} builtAt=${info.builtAt}`,
    );
    if (plan.check) io.out(shellLine(["deno", ...plan.check]));
    io.out(shellLine(["deno", ...plan.cache]));
    io.out(
      `# leave out ${exclude.length} npm files and folders (scripts/npm_pruning.ts): ` +
        `compile.exclude in ${plan.stage}/deno.json`,
    );
    for (const step of plan.steps) {
      io.out(shellLine(["deno", ...step.args]));
      io.out(`# sha256sum ${step.output} > ${step.output}.sha256`);
    }
    io.out(`# rm -r ${plan.stage}`);
    return 0;
  }

  if (plan.check) {
    io.out(`$ ${shellLine(["deno", ...plan.check])}`);
    const checked = await new Deno.Command(deno, { args: plan.check, cwd: root }).output();
    if (!checked.success) {
      io.err(`Type check failed: fix the errors above, or pass --no-check`);
      return 1;
    }
  }
  const stage = resolve(root, plan.stage);
  try {
    await rm(stage, { recursive: true, force: true });
    await mkdir(stage, { recursive: true });
    for (const path of staged(options.include)) {
      await cp(join(root, path), join(stage, path), {
        recursive: true,
        filter: isShipped,
      });
    }
    await writeFile(join(stage, BUILD_INFO_FILE), stamped);
    await writeFile(
      join(stage, "deno.json"),
      withCompileExclude(
        await readFile(join(root, "deno.json"), "utf8"),
        exclude,
      ),
    );
    for (const step of plan.steps) {
      io.out(`$ ${shellLine(["deno", ...step.args])}`);
      const result = await new Deno.Command(deno, {
        args: step.args,
        cwd: root,
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!result.success) {
        const stderr = new TextDecoder().decode(result.stderr);
        io.err(explainCompileFailure(step.target, stderr, denortBin));
        return 1;
      }
      const binary = resolve(root, step.output);
      const line = await sha256Line(binary);
      await writeFile(`${binary}.sha256`, line);
      const size = (await stat(binary)).size / 1024 / 1024;
      io.out(`Built ${step.output} (${size.toFixed(1)} MiB), sha256 ${line.split(" ")[0]}`);
    }
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
  return 0;
}

/** What is copied to the staging folder: STAGED, and the included paths outside it. */
function staged(include: string[]): string[] {
  const inStaged = (path: string) => STAGED.some((s) => path === s || path.startsWith(`${s}/`));
  return [...STAGED, ...include.filter((path) => !inStaged(path))];
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

const USAGE = `Usage: deno task compile [options]

Builds runner binaries with deno compile, each with a .sha256 file beside it.

Options:
  --target T     x86_64-unknown-linux-gnu, aarch64-unknown-linux-gnu, x86_64-apple-darwin,
                 aarch64-apple-darwin, x86_64-pc-windows-msvc (repeatable; default: all)
  --out DIR      output folder (default: dist)
  --include PATH also embed this file or folder (repeatable)
  --no-check     skip the type check
  --dry-run      print the commands, build nothing

Environment: DENORT_BIN (a local denort, for one --target), CI_COMMIT_SHA and
CI_COMMIT_REF_NAME (revision and branch when git cannot tell them).`;

async function main(): Promise<number> {
  const io: Io = {
    // deno-lint-ignore no-console -- a build script reports on stdout
    out: (line) => console.log(line),
    // deno-lint-ignore no-console -- and its errors on stderr
    err: (line) => console.error(line),
  };
  let options;
  try {
    options = parseCompileArgs(Deno.args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (options === "help") {
    io.out(USAGE);
    return 0;
  }
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  return await compile(options, root, io);
}

if (import.meta.main) Deno.exit(await main());
