/**
 * `runner exec`: runs the pipeline of a project's .gitlab-ci.yml locally
 * (docs/exec.md). Loads and plans the pipeline (src/exec/), then runs each
 * job through the same executor subprocess as a job from GitLab, with a small
 * local endpoint standing in for GitLab's artifact API.
 *
 * Exit codes: 0 the pipeline passed (allowed failures are fine), 1 it failed,
 * 2 invalid .gitlab-ci.yml, variables file or command line, 130 interrupted.
 *
 * State (builds, cache, artifacts of the last run) lives outside the project,
 * in `$XDG_CACHE_HOME/runner/exec/<hash of the project path>` (default
 * `~/.cache/…`): the working tree is never written, and exec's own files never
 * end up in the copy a job sees.
 */
import { fromFileUrl, isAbsolute, join, resolve } from "../../path/host_path.ts";
import type { RunnerConfig } from "../../config/runner_config.ts";
import type { ExecVariable, GitState, Plan } from "../../pipeline/mod.ts";
import { LocalProjectFiles, readChangedFiles, readGitState } from "../../exec/local_project.ts";
import type { SummaryRow } from "../../exec/exec_output.ts";
import type { ArtifactLedger, PipelineResult } from "../../exec/pipeline_runner.ts";
import type { CacheUrlAnswers } from "../../exec/executor_job_runner.ts";
import type { LocalArtifactsServer } from "../../exec/local_artifacts_server.ts";
import type { ExecutorPermissions } from "../../poller/executor_permissions.ts";
import type { ExecutorLauncher, ExecutorProcess } from "../../poller/process_launcher.ts";
import type { CliContext } from "../cli_context.ts";
import { Flags, type FlagSpec, parseFlags, UnknownFlagError, UsageError } from "../flags.ts";
import type { ExecRunnerBase } from "./exec_runner_settings.ts";

/**
 * The runner flags `runner exec --help` shows (the official exec's most
 * used), as exec_runner_flags.ts has them, with their help. Parsing takes
 * every runner flag of the official exec (exec_runner_settings.ts).
 */
export const SHOWN_SETTING_FLAGS: FlagSpec[] = [
  { name: "shell", type: "string", env: "RUNNER_SHELL", help: "Shell of the jobs: bash or sh" },
  {
    name: "builds-dir",
    type: "string",
    env: "RUNNER_BUILDS_DIR",
    help: "Builds directory (shell: on this host; docker: in the container)",
  },
  {
    name: "cache-dir",
    type: "string",
    env: "RUNNER_CACHE_DIR",
    help: "Local cache directory (shell: on this host; docker: in the container)",
  },
  {
    name: "env",
    type: "list",
    env: "RUNNER_ENV",
    envIsOneItem: true,
    help: "Add KEY=VALUE to every job's environment, as [[runners]] environment (repeatable)",
  },
  {
    name: "pre-build-script",
    type: "string",
    env: "RUNNER_PRE_BUILD_SCRIPT",
    help: "Commands run before each job's script",
  },
  {
    name: "post-build-script",
    type: "string",
    env: "RUNNER_POST_BUILD_SCRIPT",
    help: "Commands run after each job's script",
  },
  {
    name: "docker-image",
    type: "string",
    env: "DOCKER_IMAGE",
    help: "Image for jobs that set no image: (docker and docker+ssh executors)",
  },
  {
    name: "docker-privileged",
    type: "bool",
    env: "DOCKER_PRIVILEGED",
    help: "Run job containers privileged (docker and docker+ssh executors)",
  },
  {
    name: "docker-volumes",
    type: "list",
    env: "DOCKER_VOLUMES",
    envIsOneItem: true,
    help: "Mount a volume HOST:CONTAINER[:ro] into job containers (repeatable)",
  },
  {
    name: "docker-pull-policy",
    type: "string",
    env: "DOCKER_PULL_POLICY",
    help: "Pull policies, comma-separated: always, if-not-present, never (default if-not-present)",
  },
];

/** Exec's own flags. */
export const OWN_FLAGS: FlagSpec[] = [
  {
    name: "list",
    type: "bool",
    help: "Show the jobs and the order they would run in; run nothing",
  },
  { name: "variable", type: "list", help: "Set a variable KEY=VALUE (repeatable)" },
  {
    name: "masked-variable",
    type: "list",
    help: "Set a variable KEY=VALUE masked in the log (repeatable)",
  },
  {
    name: "variables-file",
    type: "string",
    help: "Read variables from a dotenv, YAML or JSON file",
  },
  {
    name: "concurrent",
    type: "int",
    help: "Run up to N independent jobs at the same time (default 1)",
  },
  {
    name: "executor",
    type: "string",
    help: "Executor: shell, docker, ssh, custom or docker+ssh (default shell)",
  },
  {
    name: "timeout",
    type: "int",
    help: "Cap every job's timeout at N seconds, as a runner's maximum_timeout does",
  },
  { name: "with-needs", type: "bool", help: "Also run what the named jobs need, transitively" },
  {
    name: "ci-file",
    // The official exec's name for it.
    aliases: ["cicd-config-file"],
    type: "string",
    help: "Pipeline file in the project (default .gitlab-ci.yml)",
  },
  {
    name: "project-dir",
    type: "string",
    help: "Project directory (default: the current directory)",
  },
  {
    name: "color",
    type: "bool",
    help: "Keep colours in the output (default: when stdout is a terminal)",
  },
  { name: "no-color", type: "bool", help: "Strip colours from the output" },
];

/** What `runner exec --help` shows. */
export const EXEC_FLAGS: FlagSpec[] = [...OWN_FLAGS, ...SHOWN_SETTING_FLAGS];

const OWN_FLAG_NAMES: ReadonlySet<string> = new Set(
  OWN_FLAGS.flatMap((f) => [f.name, ...(f.aliases ?? [])]),
);

/**
 * Whether `name` may be the variable of a runner flag (exec_runner_flags.ts):
 * RUNNER_*, DOCKER_*, SSH_*, CUSTOM_*, CACHE_*… but for the docker client's
 * own. `exec_runner_flags_test.ts` checks that every one is.
 */
export function isSettingVariable(name: string): boolean {
  if (DOCKER_CLIENT_VARIABLES.has(name)) return false;
  return /^(RUNNER|DOCKER|SSH|CUSTOM|CACHE)_/.test(name) || SETTING_VARIABLES.has(name);
}

/** Read by the docker client, not as runner flags (exec_runner_settings.ts's DOCKER_CLIENT_FLAGS). */
const DOCKER_CLIENT_VARIABLES: ReadonlySet<string> = new Set([
  "DOCKER_HOST",
  "DOCKER_CERT_PATH",
  "DOCKER_TLS_VERIFY",
]);

const SETTING_VARIABLES: ReadonlySet<string> = new Set([
  "CLONE_URL",
  "FEATURE_FLAGS",
  "KNOWN_HOSTS_FILE",
  "DISABLE_STRICT_HOST_KEY_CHECKING",
  "GOOGLE_APPLICATION_CREDENTIALS",
  "STEP_RUNNER_IMAGE",
]);

/**
 * Whether the command line or the environment may give a runner flag: then
 * the table of every runner flag loads (150 of them, with their checks),
 * which a plain `runner exec` does without.
 */
function mayGiveSettings(args: string[], env: Record<string, string>): boolean {
  for (const arg of args) {
    if (arg === "--") break;
    if (arg.length < 2 || !arg.startsWith("-")) continue;
    if (!OWN_FLAG_NAMES.has(arg.replace(/^--?/, "").split("=")[0]!)) return true;
  }
  return Object.keys(env).some(isSettingVariable);
}

const EXECUTORS = ["shell", "docker", "ssh", "custom", "docker+ssh"] as const;
type ExecExecutor = typeof EXECUTORS[number];

/**
 * Executors whose jobs run where exec cannot write (another host, a driver's
 * environment): the working tree reaches them as a tar archive the job's
 * get_sources stage extracts (StartMessage.workspaceArchive).
 */
function isRemoteExecutor(executor: ExecExecutor): executor is "ssh" | "custom" | "docker+ssh" {
  return executor === "ssh" || executor === "custom" || executor === "docker+ssh";
}

function isExecExecutor(name: string): name is ExecExecutor {
  return (EXECUTORS as readonly string[]).includes(name);
}

const SHORT_TOKEN = "local";
/** Exit code of a pipeline stopped by Ctrl-C, as shells report SIGINT. */
const EXIT_INTERRUPTED = 130;

interface ExecSettings {
  projectDir: string;
  ciFile: string;
  jobs: string[];
  isNeedsIncluded: boolean;
  isListOnly: boolean;
  variablesFile: string;
  variables: string[];
  maskedVariables: string[];
  concurrent: number;
  executor: ExecExecutor;
  /** `--timeout`: the cap on every job's timeout, in seconds; null: none. */
  maximumTimeout: number | null;
  /** The runner flags exec acts on; null when none was given. */
  runnerFlags: Flags | null;
  /** About variables of runner flags exec does not take. */
  settingWarnings: string[];
  /** The variables of runner flags exec acts on, named. */
  settingNotes: string[];
  isColored: boolean;
}

async function readSettings(ctx: CliContext, args: string[]): Promise<ExecSettings> {
  const settingFlags = mayGiveSettings(args, ctx.envObject())
    ? await import("./exec_runner_settings.ts")
    : null;
  const specs = settingFlags?.withSettingFlags(OWN_FLAGS, SHOWN_SETTING_FLAGS) ?? OWN_FLAGS;
  const parsed = parseFlags(args, specs, ctx.env, { takesArguments: true });
  const flags = new Flags(parsed);
  const executor = flags.string("executor", "shell");
  if (!isExecExecutor(executor)) {
    throw new UsageError(
      `Executor "${executor}" is not supported by exec: use shell, docker, ssh, custom or docker+ssh`,
    );
  }
  // A runner flag the executor would ignore is refused, not ignored.
  const given = settingFlags?.sortGivenSettings(parsed, executor) ??
    { acting: null, warnings: [], notes: [] };
  const concurrent = flags.has("concurrent") ? flags.int("concurrent") : 1;
  if (concurrent < 1) throw new UsageError(`--concurrent must be 1 or more: got ${concurrent}`);
  const maximumTimeout = flags.has("timeout") ? flags.int("timeout") : null;
  if (maximumTimeout !== null && maximumTimeout < 1) {
    throw new UsageError(`--timeout must be 1 second or more: got ${maximumTimeout}`);
  }
  let isColored = Deno.stdout.isTerminal() && (ctx.env("NO_COLOR") ?? "") === "";
  if (flags.isExplicit("color")) isColored = flags.bool("color");
  if (flags.isExplicit("no-color") && flags.bool("no-color")) isColored = false;
  const dir = flags.string("project-dir");
  return {
    projectDir: dir === "" ? ctx.cwd : isAbsolute(dir) ? dir : resolve(ctx.cwd, dir),
    ciFile: flags.string("ci-file", ".gitlab-ci.yml"),
    jobs: flags.positionals,
    isNeedsIncluded: flags.bool("with-needs"),
    isListOnly: flags.bool("list"),
    variablesFile: flags.string("variables-file"),
    variables: flags.list("variable"),
    maskedVariables: flags.list("masked-variable"),
    concurrent,
    executor,
    maximumTimeout,
    runnerFlags: given.acting,
    settingWarnings: given.warnings,
    settingNotes: given.notes,
    isColored,
  };
}

/**
 * The pipeline model and exec's project reading, imported once git is asked
 * (`readProject`): the git processes run meanwhile. String literal
 * specifiers, so that `deno compile` embeds them.
 */
async function importPipelineModules() {
  const [pipeline, exec] = await Promise.all([
    import("../../pipeline/mod.ts"),
    import("../../exec/mod.ts"),
  ]);
  return { ...pipeline, ...exec };
}

type PipelineModules = Awaited<ReturnType<typeof importPipelineModules>>;

/** Whether `error` is the user's mistake (exit code 2) rather than ours. */
function isUsageMistake(m: PipelineModules, error: unknown): error is Error {
  return error instanceof m.CiConfigError || error instanceof m.JobSelectionError ||
    error instanceof UsageError;
}

/** The official runner's executors, which its `exec` took as first argument (`exec docker JOB`). */
const OFFICIAL_EXECUTORS = new Set([
  "shell",
  "docker",
  "docker-windows",
  "docker+machine",
  "docker-autoscaler",
  "ssh",
  "parallels",
  "virtualbox",
  "kubernetes",
  "custom",
  "instance",
]);

/**
 * A usage mistake's message; an executor named where the official `exec`
 * took it (`runner exec docker build`), which is no job, says how exec takes it.
 */
function mistakeMessage(m: PipelineModules, s: ExecSettings, error: Error): string {
  const first = s.jobs[0] ?? "";
  if (
    !(error instanceof m.JobSelectionError) || !OFFICIAL_EXECUTORS.has(first) ||
    !error.message.startsWith(`Job "${first}" is not defined`)
  ) {
    return error.message;
  }
  const how = isExecExecutor(first)
    ? `use --executor ${first}`
    : `exec runs jobs with --executor shell, docker, ssh, custom or docker+ssh`;
  return `${error.message}. The executor is no argument of runner exec, as it was of gitlab-runner exec (exec ${first} JOB): ${how}`;
}

/** What only running a pipeline needs (not `--list`, not an invalid file), imported while it is planned. */
function importRunModules() {
  return Promise.all([
    import("../../exec/exec_output.ts"),
    import("../../exec/executor_job_runner.ts"),
    import("../../exec/pipeline_runner.ts"),
  ]);
}

type RunModules = Awaited<ReturnType<typeof importRunModules>>;

export async function execCommand(ctx: CliContext, args: string[]): Promise<number> {
  let settings: ExecSettings;
  try {
    settings = await readSettings(ctx, args);
  } catch (error) {
    // Main says when an unknown flag is an official one of an executor Runner lacks.
    if (error instanceof UnknownFlagError) throw error;
    if (error instanceof UsageError) return usageFailure(ctx, error.message);
    throw error;
  }
  const dirProblem = projectDirProblem(settings.projectDir);
  if (dirProblem !== null) return usageFailure(ctx, dirProblem);
  for (const note of settings.settingNotes) ctx.err(note);
  for (const warning of settings.settingWarnings) ctx.err(`WARNING: ${warning}`);
  // Checked by --list too: a bad value is found before a run.
  let base: ExecRunnerBase | null = null;
  // The ssh and custom executors have required keys (--ssh-host, --custom-run-exec):
  // their entry is validated even when no flag was given, which names them.
  if (settings.runnerFlags !== null || isRemoteExecutor(settings.executor)) {
    try {
      const { execRunnerBase } = await import("./exec_runner_settings.ts");
      base = await execRunnerBase(
        settings.runnerFlags ??
          new Flags({
            values: new Map(),
            explicit: new Set(),
            fromEnv: new Map(),
            positionals: [],
          }),
        settings.executor,
      );
    } catch (error) {
      if (error instanceof UsageError) return usageFailure(ctx, error.message);
      throw error;
    }
    for (const warning of base.warnings) ctx.err(`WARNING: ${warning}`);
    const inside = dirInsideProject(ctx, settings, base.given) ?? volumeOverBuilds(settings, base);
    if (inside !== null) return usageFailure(ctx, inside);
  }
  if (settings.isListOnly) return await listPlan(ctx, settings);
  // git runs while exec loads what the launch needs, the executor process
  // starts up while the pipeline is loaded and planned.
  const project = readProject(settings.projectDir);
  // Listened to before the executor process and the temporary directory
  // exist: Ctrl-C while the pipeline is planned removes them and exits 130.
  using interruption = listenForInterruption(ctx);
  await using early = await startExecutorEarly(ctx, settings, base);
  const m = await importPipelineModules();
  const runModules = importRunModules();
  // Awaited only when the pipeline runs; a failure then surfaces there.
  runModules.catch(() => {});
  let plan: Plan;
  try {
    plan = await loadPlan(ctx, settings, { m, project, stateDir: early.stateDir });
  } catch (error) {
    if (interruption.signal.aborted) return EXIT_INTERRUPTED;
    if (isUsageMistake(m, error)) return usageFailure(ctx, mistakeMessage(m, settings, error));
    throw error;
  }
  if (interruption.signal.aborted) return EXIT_INTERRUPTED;
  for (const warning of plan.warnings) ctx.err(`WARNING: ${m.formatWarning(warning)}`);
  for (const note of plan.notes) ctx.err(note);
  if (!plan.isCreated) return 0;
  if (plan.jobs.length === 0) {
    // Say why: every job the file defines is here with its reason.
    ctx.err(plan.skipped.length > 0 ? "No job to run:" : "No job to run.");
    for (const job of plan.skipped) ctx.err(`  ${job.name}: ${job.reason}`);
    return 0;
  }
  if (settings.executor.startsWith("docker") && (base?.runner.docker.image ?? "") === "") {
    const bare = plan.jobs.find((j) => j.jobSpec.image.name === "");
    if (bare) {
      return usageFailure(
        ctx,
        `Job "${bare.name}" sets no image: pass --docker-image to choose one for the ${settings.executor} executor`,
      );
    }
  }
  // Runs of one project share its state directory (the build directory, the
  // run's artifacts): a second run waits for the first to end.
  using _lock = await lockStateDir(ctx, early.stateDir, interruption.signal);
  if (interruption.signal.aborted) return EXIT_INTERRUPTED;
  interruption.isRunning = true;
  return await runPlan(ctx, settings, {
    plan,
    early,
    modules: await runModules,
    signal: interruption.signal,
  });
}

/**
 * Holds `<stateDir>/run.lock` (an exclusive file lock, which the system
 * drops with the process) until disposed; says so while another run holds
 * it. Resolves early, holding nothing, once `signal` aborts.
 */
async function lockStateDir(
  ctx: CliContext,
  stateDir: string,
  signal: AbortSignal,
): Promise<Disposable> {
  await Deno.mkdir(stateDir, { recursive: true });
  const file = await Deno.open(join(stateDir, "run.lock"), { create: true, write: true });
  const waiting = setTimeout(() => {
    ctx.err(`Waiting for the other runner exec of this project to end (its state: ${stateDir})`);
  }, 250);
  try {
    await Promise.race([
      file.lock(true),
      new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        signal.addEventListener("abort", () => resolve(), { once: true });
      }),
    ]);
  } finally {
    clearTimeout(waiting);
  }
  return { [Symbol.dispose]: () => file.close() };
}

interface Interruption extends Disposable {
  /** Aborted by the first interrupting signal (SIGINT, SIGTERM, SIGHUP). */
  readonly signal: AbortSignal;
  /** Whether jobs may be running (what the interruption message says). */
  isRunning: boolean;
}

/**
 * The signals that stop exec as Ctrl-C does. A hangup (the terminal or the
 * ssh session closed) is one: by default it killed exec at once, which left
 * its temporary directory behind. Windows has Ctrl-C and Ctrl-Break only
 * (Deno refuses to listen for the others there).
 */
const INTERRUPTING_SIGNALS: readonly Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT", "SIGBREAK"]
  : ["SIGINT", "SIGTERM", "SIGHUP"];

/** Listens for Ctrl-C (and SIGTERM, SIGHUP) until disposed; says so on the first. */
function listenForInterruption(ctx: CliContext): Interruption {
  const stop = new AbortController();
  const interruption: Interruption = {
    signal: stop.signal,
    isRunning: false,
    [Symbol.dispose]() {
      for (const signal of INTERRUPTING_SIGNALS) Deno.removeSignalListener(signal, onSignal);
    },
  };
  const onSignal = () => {
    if (!stop.signal.aborted) {
      ctx.err(
        interruption.isRunning
          ? "Interrupted: stopping the running jobs"
          : "Interrupted: no job was started",
      );
    }
    stop.abort();
  };
  for (const signal of INTERRUPTING_SIGNALS) Deno.addSignalListener(signal, onSignal);
  return interruption;
}

async function listPlan(ctx: CliContext, settings: ExecSettings): Promise<number> {
  const project = readProject(settings.projectDir);
  const m = await importPipelineModules();
  let plan: Plan;
  try {
    plan = await loadPlan(ctx, settings, {
      m,
      project,
      stateDir: await execStateDir(settings.projectDir, ctx.env),
    });
  } catch (error) {
    if (isUsageMistake(m, error)) return usageFailure(ctx, mistakeMessage(m, settings, error));
    throw error;
  }
  for (const line of m.renderPlanList(plan).replace(/\n$/, "").split("\n")) ctx.out(line);
  return 0;
}

/**
 * Why the project directory cannot be one (it does not exist, is a file, is
 * not readable), naming the flag that gave it; null when it can.
 */
function projectDirProblem(dir: string): string | null {
  try {
    if (Deno.statSync(dir).isDirectory) return null;
    return `The project directory "${dir}" is not a directory (--project-dir)`;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return `The project directory "${dir}" does not exist (--project-dir)`;
    }
    return `The project directory "${dir}" cannot be read (--project-dir): ${
      (error as Error).message
    }`;
  }
}

function usageFailure(ctx: CliContext, message: string): number {
  ctx.err(`ERROR: ${message}`);
  return 2;
}

/**
 * The project on disk, its file list and its git state being read (git
 * processes started at once) but for the changed files, read only when rules
 * look at them.
 */
interface ProjectReads {
  files: LocalProjectFiles;
  gitState: Promise<GitState>;
  /** The git state with its changed files (read on the first call). */
  withChangedFiles(): Promise<GitState>;
}

function readProject(projectDir: string): ProjectReads {
  const files = new LocalProjectFiles(projectDir);
  const gitState = readGitState(projectDir, files, { isChangedFilesSkipped: true });
  // Every plan lists the files (`git ls-files`: the workspace copy, `exists:`).
  const fileList = files.listFiles();
  // Awaited when the pipeline is loaded and planned; a failure then surfaces there.
  gitState.catch(() => {});
  fileList.catch(() => {});
  let full: Promise<GitState> | null = null;
  const withChangedFiles = () =>
    full ??= Promise.all([gitState, readChangedFiles(projectDir, files)])
      .then(([git, changedFiles]) => ({ ...git, changedFiles }));
  return { files, gitState, withChangedFiles };
}

/**
 * The nearest directory above `dir` that is a git working tree's top with
 * `ciFile` in it (exec started in a subdirectory of the project); null when none.
 */
function enclosingProject(dir: string, ciFile: string): string | null {
  for (let at = resolve(dir, "..");; at = resolve(at, "..")) {
    try {
      Deno.statSync(join(at, ".git"));
      return Deno.statSync(join(at, ciFile)).isFile ? at : null;
    } catch {
      // No working tree's top here, or no CI file in it.
    }
    if (at === resolve(at, "..")) return null;
  }
}

/** The parse cache's file in a project's state directory (`CiYamlParseCache`). */
const PARSE_CACHE_FILE = "ci-yaml-cache.json";

async function loadPlan(
  ctx: CliContext,
  s: ExecSettings,
  { m, project, stateDir }: { m: PipelineModules; project: ProjectReads; stateDir: string },
): Promise<Plan> {
  // Files parsed by an earlier run come from the cache: npm:yaml is not even loaded.
  const cache = new m.CiYamlParseCache({
    store: m.parseCacheFile(join(stateDir, PARSE_CACHE_FILE)),
    build: `${ctx.version.version} ${ctx.version.revision} ${ctx.version.denoVersion}`,
  });
  cache.preload();
  const { files, gitState, withChangedFiles } = project;
  if (await files.readText(s.ciFile) === null) {
    const top = enclosingProject(s.projectDir, s.ciFile);
    const hint = top === null ? "" : `: it is in "${top}" (run exec there, or pass --project-dir)`;
    throw new UsageError(`No "${s.ciFile}" in "${s.projectDir}"${hint}`);
  }
  const variables: ExecVariable[] = [];
  if (s.variablesFile !== "") {
    const path = isAbsolute(s.variablesFile) ? s.variablesFile : resolve(ctx.cwd, s.variablesFile);
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      throw new UsageError(
        `Cannot read the variables file "${s.variablesFile}": ${(error as Error).message}`,
      );
    }
    // Not UTF-8: an error naming the line, not replacement characters in a job.
    const text = m.decodeCiText(bytes, s.variablesFile);
    variables.push(...await m.parseVariablesFile(text, s.variablesFile));
  }
  try {
    for (const v of s.variables) variables.push(m.parseVariableArgument(v));
    for (const v of s.maskedVariables) {
      variables.push(m.parseVariableArgument(v, { isMasked: true }));
    }
  } catch (error) {
    throw new UsageError((error as Error).message, { cause: error });
  }
  // Include paths and include:rules may need git and the variables; git is
  // read meanwhile and only awaited if an include asks.
  const pipeline = await m.loadPipeline(s.projectDir, {
    files,
    ciFile: s.ciFile,
    includeContext: async () => ({ git: await withChangedFiles(), variables }),
    parse: cache.parse,
  });
  // `git diff` (a stat of every tracked file) only for rules that look at changes.
  const git = m.isReadingChanges(pipeline) ? await withChangedFiles() : await gitState;
  const plan = await m.planPipeline(pipeline, {
    git,
    files,
    jobs: s.jobs,
    isNeedsIncluded: s.isNeedsIncluded,
    variables,
    ...(s.maximumTimeout !== null ? { maximumTimeout: s.maximumTimeout } : {}),
    parse: cache.parse,
  });
  // Only a run that parsed something writes; a cache that cannot be written is no error.
  await cache.save().catch(() => {});
  return plan;
}

/**
 * `$XDG_CACHE_HOME/runner/exec/<hash>`: one state directory per project path
 * (the first 16 hex digits of its SHA-256; web crypto, as node:crypto takes
 * tens of ms to load).
 */
export async function execStateDir(
  projectDir: string,
  env: (name: string) => string | undefined,
): Promise<string> {
  const base = env("XDG_CACHE_HOME") || join(env("HOME") || "/tmp", ".cache");
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(projectDir));
  const hash = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0"))
    .join("").slice(0, 16);
  return join(base, "runner", "exec", hash);
}

/**
 * The executor process for the first job, launched before the pipeline is
 * read: its permissions depend only on the flags and the state directories.
 * The artifact endpoint's port is reserved now, since the process may only
 * reach that one; disposing stops whatever was not taken.
 */
interface EarlyExecutor extends AsyncDisposable {
  stateDir: string;
  executorStateDir: string;
  /** The jobs' builds directory on this host (docker: the host side of its bind). */
  hostBuildsDir: string;
  /** The shell executor's local cache directory; null for docker (a volume). */
  hostCacheDir: string | null;
  tempDir: string;
  launcher: ExecutorLauncher;
  /** The runner entry and the executor permissions for the endpoint at `url`. */
  configFor(url: string): { runner: RunnerConfig; permissions: ExecutorPermissions };
  /** The reserved endpoint's URL. */
  readonly url: string;
  /** Frees the reserved port for the artifacts server; returns it. */
  releasePort(): number;
  /** The process launched for `configFor(url)`, once; null when it failed to start. */
  takeProcess(): ExecutorProcess | null;
}

/**
 * What launching the executor process takes (the runner defaults, written
 * out so that the config schema is not loaded; the permission table; the
 * launcher): imported by a run only, while the state directories are made;
 * `--list` does without them.
 */
function importLaunchModules() {
  return Promise.all([
    import("../../exec/runner_defaults.ts"),
    import("../../poller/executor_permissions.ts"),
    import("../../poller/process_launcher.ts"),
    import("../../poller/compiled_grants.ts"),
    import("../../poller/v8_flags.ts"),
  ]);
}

async function startExecutorEarly(
  ctx: CliContext,
  s: ExecSettings,
  base: ExecRunnerBase | null,
): Promise<EarlyExecutor> {
  const [launch, stateDir, tempDir] = await Promise.all([
    importLaunchModules(),
    execStateDir(s.projectDir, ctx.env),
    Deno.makeTempDir({ prefix: "runner-exec-" }),
  ]);
  const [
    { execRunnerDefaults },
    { executorPermissions },
    { knownRevision, SubprocessLauncher },
    { isCompiledBinary },
    { RUNNER_V8_FLAGS },
  ] = launch;
  const executorStateDir = join(stateDir, "executor");
  let reservation: Deno.Listener | null = null;
  let port: number;
  try {
    reservation = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    port = (reservation.addr as Deno.NetAddr).port;
  } catch (error) {
    await Deno.remove(tempDir, { recursive: true }).catch(() => {});
    throw new Error(`Cannot open a port on 127.0.0.1 for the local artifacts server`, {
      cause: error,
    });
  }
  const dirs = execDirs(ctx, s.executor, { stateDir, given: base?.given ?? {} });
  const configFor = (url: string) => {
    const runner = execRunnerConfig(
      // Never null for ssh and custom (execCommand validates their entry).
      base === null
        ? execRunnerDefaults(s.executor === "docker" ? "docker" : "shell")
        : structuredClone(base.runner),
      { url, dirs, given: base?.given ?? {}, cwd: ctx.cwd },
    );
    const permissions = executorPermissions({
      runner,
      cwd: stateDir,
      tempDir,
      stateDir: executorStateDir,
      env: ctx.env,
    });
    return { runner, permissions };
  };
  const url = `http://127.0.0.1:${port}`;
  const isCompiled = isCompiledBinary(Deno.execPath());
  const launcher = new SubprocessLauncher({
    execPath: Deno.execPath(),
    // From source, the executor's own entry: it reaches fewer modules than
    // main.ts. A file URL: node:url (and Node compatibility with it) is not
    // loaded before the launch.
    mainModule: isCompiled ? null : new URL("../executor_entry.ts", import.meta.url).href,
    // From source, as for `runner run`: lazy dynamic imports, and read access to src/ for them.
    ...(isCompiled ? {} : {
      sourceDir: fromFileUrl(new URL("../..", import.meta.url)).replace(/\/$/, ""),
      ...knownRevision(ctx.version.revision),
      // Exec's own V8 flags: an installed `runner` keeps a code cache, and V8
      // rejects a module's cache made under other flags (v8_flags.ts).
      v8Flags: RUNNER_V8_FLAGS,
    }),
    env: ctx.envObject(),
  });
  let process: ExecutorProcess | null = null;
  try {
    process = launcher.launch(configFor(url).permissions);
  } catch {
    // Each job launches again and reports the error in its log.
  }
  const releasePort = () => {
    reservation?.close();
    reservation = null;
    return port;
  };
  return {
    stateDir,
    executorStateDir,
    ...dirs,
    tempDir,
    launcher,
    configFor,
    url,
    releasePort,
    takeProcess() {
      const taken = process;
      process = null;
      return taken;
    },
    async [Symbol.asyncDispose]() {
      releasePort();
      const left = process;
      process = null;
      if (left !== null) {
        left.kill("SIGKILL");
        await left[Symbol.asyncDispose]();
      }
      await Deno.remove(tempDir, { recursive: true }).catch(() => {});
    },
  };
}

/** Whether a job of the plan can upload artifacts, hence whether the local endpoint must serve. */
function hasArtifacts(plan: Plan): boolean {
  return plan.jobs.some((j) => j.jobSpec.artifacts.some((a) => a.paths.length > 0 || a.untracked));
}

/** The ledger of a pipeline whose jobs upload nothing. */
const NO_ARTIFACTS: ArtifactLedger = {
  archiveOf: () => null,
  dotenvOf: () => Promise.resolve([]),
};

async function runPlan(
  ctx: CliContext,
  s: ExecSettings,
  { plan, early, modules, signal }: {
    plan: Plan;
    early: EarlyExecutor;
    modules: RunModules;
    signal: AbortSignal;
  },
): Promise<number> {
  const [{ ExecOutput, renderSummary }, { ExecutorJobRunner }, { runPipeline }] = modules;
  const { stateDir, executorStateDir, tempDir, hostBuildsDir, hostCacheDir } = early;
  const artifactsDir = join(stateDir, "artifacts");
  // Synchronous, on the way to the first job's start: each asynchronous call
  // is a hop to a pool thread and back, which a busy host is slow to schedule.
  // A --builds-dir or --cache-dir that cannot be made is the user's to fix.
  for (const [dir, what] of [[hostBuildsDir, "builds"], [hostCacheDir, "cache"]] as const) {
    if (dir === null) continue;
    try {
      Deno.mkdirSync(dir, { recursive: true });
    } catch (error) {
      return usageFailure(
        ctx,
        `Cannot create the ${what} directory "${dir}"${givenBy(s, `${what}-dir`)}: ${
          (error as Error).message
        }`,
      );
    }
  }
  Deno.mkdirSync(executorStateDir, { recursive: true });
  // Artifacts belong to one run, as to one pipeline in GitLab.
  try {
    Deno.removeSync(artifactsDir, { recursive: true });
  } catch {
    // None yet.
  }
  let spare = early.takeProcess();
  let url = early.url;
  let server: LocalArtifactsServer | null = null;
  if (hasArtifacts(plan)) {
    // Only a pipeline with artifacts loads the server.
    const { LocalArtifactsServer } = await import("../../exec/local_artifacts_server.ts");
    const jobs = plan.jobs.map((j) => ({ id: j.jobSpec.id, token: j.jobSpec.token }));
    server = new LocalArtifactsServer({ dir: artifactsDir, jobs, port: early.releasePort() });
    try {
      await server.start();
    } catch {
      // Another program took the reserved port: serve on any free one, with a
      // process allowed to reach it.
      server = new LocalArtifactsServer({ dir: artifactsDir, jobs });
      await server.start();
      url = server.url;
      spare?.kill("SIGKILL");
      await spare?.[Symbol.asyncDispose]();
      spare = null;
    }
  }
  await using _server = server;
  const { runner, permissions } = early.configFor(url);
  const projectPath = plan.jobs[0]!.jobSpec.jobInfo.projectFullPath;
  const cacheUrls = runner.cache.type === "" ? null : await distributedCache(ctx, runner);
  await using jobRunner = new ExecutorJobRunner({
    ...(cacheUrls !== null ? { cacheUrls } : {}),
    launcher: early.launcher,
    runner,
    permissions,
    shortToken: SHORT_TOKEN,
    systemId: "exec",
    cwd: stateDir,
    executorStateDir,
    tempDir,
    workspace: plan.workspace,
    projectPath,
    hostBuildsDir,
    expectedJobs: plan.jobs.length,
    ...(spare !== null ? { spare } : {}),
  });
  jobRunner.prelaunch();

  const isPrefixed = s.concurrent > 1 && plan.jobs.length > 1;
  const output = new ExecOutput({ line: (text) => ctx.out(text) }, {
    isColored: s.isColored,
    isPrefixed,
  });
  const bold = (text: string) => s.isColored ? `\x1b[1m${text}\x1b[0m` : text;
  let result: PipelineResult;
  try {
    result = await runPipeline(plan, {
      runner: jobRunner,
      artifacts: server ?? NO_ARTIFACTS,
      concurrent: s.concurrent,
      signal,
      observer: {
        jobStarted(job, attempt, maxAttempts) {
          const retry = attempt > 1 ? `, attempt ${attempt} of ${maxAttempts}` : "";
          if (isPrefixed) output.note(job.name, bold(`Job started (stage ${job.stage}${retry})`));
          else ctx.out(bold(`━━━ ${job.name} (stage ${job.stage}${retry}) ━━━`));
        },
        jobLog: (job, chunk) => output.write(job.name, chunk),
        jobFinished(job, outcome) {
          output.flush(job.name);
          if (outcome.status === "skipped" || outcome.status === "canceled") {
            const why = outcome.detail ? `: ${outcome.detail}` : "";
            if (isPrefixed) output.note(job.name, `Job ${outcome.status}${why}`);
            else ctx.out(`━━━ ${job.name}: ${outcome.status}${why}`);
          }
        },
      },
    });
  } finally {
    // Also waits for executor processes still removing what their job left
    // (a docker job's containers): exec ends after them.
    await jobRunner.close();
  }

  const rows: SummaryRow[] = [
    ...result.outcomes,
    ...plan.skipped.map((j): SummaryRow => ({
      name: j.name,
      stage: j.stage,
      status: "skipped",
      durationSeconds: null,
      detail: j.reason,
    })),
  ];
  ctx.out("");
  for (const line of renderSummary(rows, { isColored: s.isColored })) ctx.out(line);
  ctx.out("");
  if (signal.aborted) {
    ctx.out(bold("Pipeline canceled"));
    return EXIT_INTERRUPTED;
  }
  if (!result.isSuccess) {
    const failed = result.outcomes.filter((o) => o.status === "failed").map((o) => o.name);
    ctx.out(bold(`Pipeline failed: ${failed.map((n) => `"${n}"`).join(", ")} failed`));
    return 1;
  }
  ctx.out(bold("Pipeline passed"));
  return 0;
}

/**
 * Signs the distributed cache's URLs for the jobs (`--cache-type` and its
 * section's flags), as the poller does: the credentials stay in exec, the
 * object names are the official runner's, with exec's short token.
 */
async function distributedCache(ctx: CliContext, runner: RunnerConfig): Promise<CacheUrlAnswers> {
  const { CacheUrlSigners, presignJobCache } = await import("../../cache/cache_url_signer.ts");
  const signers = new CacheUrlSigners({ env: ctx.env });
  return {
    async answer(job, request) {
      try {
        const presigned = await presignJobCache(signers, request, {
          cache: runner.cache,
          shortToken: SHORT_TOKEN,
          projectId: job.jobInfo.projectId,
          timeoutSeconds: job.timeout,
        });
        return { type: "cache-url", id: request.id, ...presigned };
      } catch (error) {
        return { type: "cache-url", id: request.id, error: (error as Error).message };
      }
    },
  };
}

/** Where exec's jobs keep their builds and (shell) local cache. */
interface ExecDirs {
  hostBuildsDir: string;
  hostCacheDir: string | null;
  /** `builds_dir` of the runner entry: the host's for shell, the container's for docker ("": /builds). */
  buildsDir: string;
  /** `cache_dir` of the runner entry; "" for the executor's default. */
  cacheDir: string;
}

/** ` (--builds-dir)`, ` (RUNNER_BUILDS_DIR)`: what gave runner flag `name`; "" when nothing did. */
function givenBy(s: ExecSettings, name: string): string {
  const flags = s.runnerFlags;
  if (flags === null || !flags.has(name)) return "";
  return ` (${
    flags.isExplicit(name) ? `--${name}` : flags.parsed.fromEnv.get(name) ?? `--${name}`
  })`;
}

/**
 * Why a shell `--builds-dir` or `--cache-dir` cannot be used: inside the
 * project, jobs would write the working tree, and the next run would copy
 * their builds into its jobs. Null when both can.
 */
function dirInsideProject(
  ctx: CliContext,
  s: ExecSettings,
  given: Record<string, unknown>,
): string | null {
  if (s.executor !== "shell") return null;
  for (const key of ["builds_dir", "cache_dir"]) {
    const dir = given[key];
    if (typeof dir !== "string" || dir === "") continue;
    const onHost = isAbsolute(dir) ? dir : resolve(ctx.cwd, dir);
    const project = resolve(s.projectDir);
    if (onHost === project || onHost.startsWith(`${project}/`)) {
      const what = key.replace("_dir", "");
      return `The ${what} directory "${dir}"${
        givenBy(s, `${what}-dir`)
      } is inside the project "${project}": exec never writes the working tree; choose a directory outside it`;
    }
  }
  return null;
}

/**
 * Why a docker `--docker-volumes` entry cannot be used: one mounted at the
 * builds directory would hide the copy of the project exec binds there (the
 * docker executor then refused exec's own bind, naming only that). Null when
 * none is.
 */
function volumeOverBuilds(s: ExecSettings, base: ExecRunnerBase): string | null {
  if (s.executor !== "docker") return null;
  const builds = (base.runner.buildsDir || "/builds").replace(/(.)\/+$/, "$1");
  for (const volume of base.runner.docker.volumes) {
    const parts = volume.split(":");
    const target = (parts.length === 1 ? parts[0]! : parts[1]!).replace(/(.)\/+$/, "$1");
    if (target === builds) {
      return `The volume "${volume}"${
        givenBy(s, "docker-volumes")
      } is mounted at the builds directory "${builds}", where exec binds the copy of the project: mount it elsewhere, or move the builds directory with --builds-dir`;
    }
  }
  return null;
}

/**
 * The builds and cache directories: `--builds-dir` and `--cache-dir` when
 * given (for the shell executor a relative one is taken from the directory
 * exec was started in, as the official exec ran the job in its own process),
 * else under the project's state directory. For docker they are paths in the
 * container: the builds directory there is bound to the state directory's.
 */
function execDirs(
  ctx: CliContext,
  executor: ExecExecutor,
  { stateDir, given }: { stateDir: string; given: Record<string, unknown> },
): ExecDirs {
  const flag = (key: string) => typeof given[key] === "string" ? given[key] as string : "";
  const onHost = (dir: string) => isAbsolute(dir) ? dir : resolve(ctx.cwd, dir);
  if (executor === "shell") {
    const hostBuildsDir = flag("builds_dir")
      ? onHost(flag("builds_dir"))
      : join(stateDir, "builds");
    const hostCacheDir = flag("cache_dir") ? onHost(flag("cache_dir")) : join(stateDir, "cache");
    return { hostBuildsDir, hostCacheDir, buildsDir: hostBuildsDir, cacheDir: hostCacheDir };
  }
  // docker: paths in the container, its builds directory bound to the host's.
  // ssh, custom: paths where the job runs ("": the executor's or driver's
  // default); the host's builds directory only holds nothing.
  return {
    hostBuildsDir: join(stateDir, "builds"),
    hostCacheDir: null,
    buildsDir: flag("builds_dir"),
    cacheDir: flag("cache_dir"),
  };
}

/**
 * The runner entry exec's jobs run with: `runner` (the executor's defaults
 * with the runner flags given), `url` the local endpoint, builds and cache
 * where `dirs` says. For docker the host builds directory is bound at the
 * container's (so the copied working tree is what the container sees) and
 * images are pulled only when missing, unless `--docker-pull-policy` says
 * otherwise.
 */
function execRunnerConfig(
  runner: RunnerConfig,
  { url, dirs, given, cwd }: {
    url: string;
    dirs: ExecDirs;
    given: Record<string, unknown>;
    /** Where exec was started: relative driver and key file paths are from there. */
    cwd: string;
  },
): RunnerConfig {
  runner.name = "runner exec";
  runner.url = url;
  runner.token = "";
  runner.buildsDir = dirs.buildsDir;
  runner.cacheDir = dirs.cacheDir;
  if (runner.executor === "docker") {
    const docker = (given["docker"] ?? {}) as Record<string, unknown>;
    runner.docker = {
      ...runner.docker,
      volumes: [...runner.docker.volumes, `${dirs.hostBuildsDir}:${dirs.buildsDir || "/builds"}`],
      ...(docker["pull_policy"] === undefined
        ? { pullPolicy: ["if-not-present"], allowedPullPolicies: [] }
        : {}),
    };
  }
  if (
    runner.executor === "docker+ssh" && (given["docker"] as { pull_policy?: unknown } | undefined)
        ?.pull_policy === undefined
  ) {
    // As for docker; no bind: the working tree reaches the job as an archive.
    runner.docker = { ...runner.docker, pullPolicy: ["if-not-present"], allowedPullPolicies: [] };
  }
  // The executor process runs in the state directory: a path given relative
  // to where exec started (./driver/run.sh, keys/id_ed25519) is made absolute,
  // as a shell --builds-dir is. A bare program name stays one (found on PATH).
  const fromCwd = (path: string) => path === "" || isAbsolute(path) ? path : resolve(cwd, path);
  if (runner.executor === "custom") {
    const c = runner.custom;
    for (const key of ["configExec", "prepareExec", "runExec", "cleanupExec"] as const) {
      if (c[key].includes("/")) c[key] = fromCwd(c[key]);
    }
  }
  if (runner.executor === "ssh" || runner.executor === "docker+ssh") {
    const ssh = runner.ssh;
    for (const key of ["identityFile", "knownHostsFile"] as const) {
      if (!ssh[key].startsWith("~")) ssh[key] = fromCwd(ssh[key]);
    }
  }
  return runner;
}
