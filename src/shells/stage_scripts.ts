/**
 * The script of each build stage (spec/gitlab-runner-api.md §8.2, §9), for
 * bash or sh. The build decides settings and values; this module only turns
 * them into shell code. Pure: no I/O.
 *
 * Every script that touches the project starts with the job's variables
 * exported (file variables written under the temp dir) and GITLAB_ENV
 * sourced, then `cd`s into the project dir, as the official runner does.
 */
import {
  GITLAB_ENV_FILE,
  joinPath,
  type ScriptVariable,
  ScriptWriter,
  type ShellName,
} from "./script_writer.ts";

export interface ScriptInfo {
  shell: ShellName;
  /** The job's final variables, expanded, in export order. */
  variables: readonly ScriptVariable[];
  /** CI_PROJECT_DIR. */
  projectDir: string;
  /** RUNNER_TEMP_PROJECT_DIR (`<projectDir>.tmp`). */
  tmpDir: string;
  /** FF_ENABLE_BASH_EXIT_CODE_CHECK. */
  exitCodeCheck: boolean;
  /** FF_SCRIPT_SECTIONS and the server's trace_sections. */
  scriptSections: boolean;
  /** CI_DEBUG_TRACE (unless the runner disables it). */
  debugTrace: boolean;
  /** FF_USE_LEGACY_BASH_EVAL. */
  legacyEval: boolean;
}

export type GitStrategy = "fetch" | "clone" | "none" | "empty";
export type SubmoduleStrategy = "none" | "normal" | "recursive";

export interface GitSources {
  strategy: GitStrategy;
  /** GIT_CHECKOUT (false for none/empty). */
  checkout: boolean;
  /** GIT_CLEAN_FLAGS split into words; empty = no `git clean`. */
  cleanFlags: readonly string[];
  /** GIT_FETCH_EXTRA_FLAGS split into words. */
  fetchFlags: readonly string[];
  /** `git_info.depth`; 0 = full history. */
  depth: number;
  refspecs: readonly string[];
  sha: string;
  ref: string;
  /** `sha1` or `sha256`. */
  objectFormat: string;
  /** The remote as stored in `.git/config`: never with credentials. */
  remoteUrl: string;
  /** `[url with credentials, url without]` pairs for `url.<with>.insteadOf <without>`. */
  insteadOfs: ReadonlyArray<readonly [string, string]>;
  /** `gitlab-runner <version> <os>/<arch>`. */
  userAgent: string;
  /** The user set GIT_LFS_SKIP_SMUDGE: no `git lfs pull`. */
  lfsSmudgeDisabled: boolean;
  submoduleStrategy: SubmoduleStrategy;
  /** GIT_SUBMODULE_DEPTH (0 = full). */
  submoduleDepth: number;
  submoduleUpdateFlags: readonly string[];
  /** FF_USE_GIT_BUNDLE_URIS. */
  bundleUris: boolean;
  /**
   * FF_USE_GITALY_CORRELATION_ID: the job request's correlation ID, sent to
   * Gitaly as `X-Gitaly-Correlation-ID` on every git HTTP request; "" = none.
   */
  gitalyCorrelationId: string;
  /** clean_git_config: delete `.git/config` and hooks before fetching. */
  cleanGitConfig: boolean;
  /** Commands of pre_get_sources_script (runner config, then job hook). */
  preCommands: readonly string[];
  /** Commands of post_get_sources_script (job hook, then runner config). */
  postCommands: readonly string[];
  /** `scheme://host` to `git credential reject` at the end; null for local remotes. */
  credentialHost: string | null;
  /**
   * `[setting, file]` pairs written as `http.<scheme://host>.<setting> <file>`
   * (sslCAInfo, sslCert, sslKey: the runner's TLS files as the job's file
   * variables), as the official runner configures git.
   */
  sslFiles: ReadonlyArray<readonly [string, string]>;
  /** `scheme://host` of the remote, the scope of `sslFiles`; null for non-HTTP remotes. */
  remoteHost: string | null;
}

/** The git config that is included while fetching; holds the credential rewrites. */
export const EXTERNAL_GIT_CONFIG_FILE = ".gitlab-runner.ext.conf";
const GIT_TEMPLATE_DIR = "git-template";
const EXTERNAL_GIT_CONFIG_ENV = "GLR_EXT_GIT_CONFIG_PATH";

function writerFor(info: ScriptInfo): ScriptWriter {
  return new ScriptWriter({
    tmpDir: info.tmpDir,
    exitCodeCheck: info.exitCodeCheck,
    debugTrace: info.debugTrace,
    legacyEval: info.legacyEval,
  });
}

function sectionPrefix(info: ScriptInfo, prefix: string): { sectionPrefix?: string } {
  return info.scriptSections ? { sectionPrefix: prefix } : {};
}

export interface PrepareScriptOptions {
  /** Shown as `Running on … via <hostname>...`. */
  hostname?: string;
  /** The job host's name when known here; else the script runs `hostname`. */
  runningOn?: string;
  /**
   * Also create the project dir: the work of a get_sources stage that the
   * build does not run as a script (see `isGetSourcesScriptNeeded`).
   */
  createProjectDir?: boolean;
}

/** prepare_script: says where the job runs and forgets the previous job's GITLAB_ENV. */
export function prepareScript(info: ScriptInfo, options: PrepareScriptOptions = {}): string {
  const w = writerFor(info);
  // Names go inside double quotes: characters the shell would act on are dropped.
  const clean = (name: string) => name.replaceAll(/["$`\\]/g, "");
  const via = options.hostname ? ` via ${clean(options.hostname)}` : "";
  const host = options.runningOn ? clean(options.runningOn) : "$(hostname)";
  w.line(`echo "Running on ${host}${via}..."`);
  // One `rm` for all files: each command is a process start in the stage.
  w.rmFiles(w.tmpFile(GITLAB_ENV_FILE), w.tmpFile("masking.db"));
  // With the job's temporary dir, where the step's GITLAB_ENV file goes: one process for both.
  if (options.createProjectDir) w.mkdir(info.projectDir, info.tmpDir);
  return w.finish();
}

const SKIP_GIT_SETUP_NOTICE = "Skipping Git repository setup";
const SKIP_GIT_CHECKOUT_NOTICE = "Skipping Git checkout";
const SKIP_SUBMODULES_NOTICE = "Skipping Git submodules setup";

/** What get_sources prints for GIT_STRATEGY=none, as the official runner's script does. */
export const GIT_NONE_NOTICES: readonly string[] = [
  SKIP_GIT_SETUP_NOTICE,
  SKIP_GIT_CHECKOUT_NOTICE,
  SKIP_SUBMODULES_NOTICE,
];

/**
 * Whether get_sources must run as a script. With GIT_STRATEGY=none it only
 * prints GIT_NONE_NOTICES and creates the project dir (no git command got the
 * job's credentials, so there is nothing to reject), so the build may print the notices
 * itself and let prepare_script create the dir (`createProjectDir`), saving
 * a shell start (a `docker exec` in a container). With CI_DEBUG_TRACE the
 * script's xtrace output is part of the job log, so it runs.
 */
export function isGetSourcesScriptNeeded(info: ScriptInfo, git: GitSources): boolean {
  return git.strategy !== "none" || info.debugTrace;
}

function regexQuote(s: string): string {
  return s.replaceAll(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** get_sources: hooks around fetch/clone, checkout, clean and submodules. */
export function getSourcesScript(info: ScriptInfo, git: GitSources): string {
  const w = writerFor(info);
  w.exportVariables(info.variables);
  w.variable({ key: "GIT_TERMINAL_PROMPT", value: "0", file: false });
  w.variable({ key: "GCM_INTERACTIVE", value: "Never", file: false });

  const usesGit = git.strategy === "fetch" || git.strategy === "clone";
  if (usesGit && git.preCommands.length > 0) {
    w.userCommands(git.preCommands, sectionPrefix(info, "pre_clone_script"));
  }

  if (!git.lfsSmudgeDisabled) {
    // Smudging during fetch can exhaust memory; objects are pulled after checkout.
    w.variable({ key: "GIT_LFS_SKIP_SMUDGE", value: "1", file: false });
  }

  switch (git.strategy) {
    case "fetch":
    case "clone":
      writeGitCleanup(w, info, git);
      writeFetch(w, info, git);
      break;
    case "none":
      w.notice(SKIP_GIT_SETUP_NOTICE);
      w.mkdir(info.projectDir);
      break;
    case "empty":
      w.notice("Skipping Git repository setup and creating an empty build directory");
      w.rmDir(info.projectDir);
      w.mkdir(info.projectDir);
      break;
  }

  if (git.checkout && usesGit) {
    w.notice(`Checking out ${git.sha.slice(0, 8)} as detached HEAD (ref is ${git.ref})...`);
    w.command("git", "-c", "submodule.recurse=false", "checkout", "-f", "-q", git.sha);
    if (git.cleanFlags.length > 0) w.command("git", "clean", ...git.cleanFlags);
    if (!git.lfsSmudgeDisabled) {
      w.ifCommand("git", "lfs", "version");
      w.command("git", "lfs", "pull");
      w.emptyLine();
      w.endIf();
    }
  } else {
    w.notice(SKIP_GIT_CHECKOUT_NOTICE);
  }

  if (usesGit) writeSubmodules(w, git);
  else w.notice(SKIP_SUBMODULES_NOTICE);

  if (usesGit && git.postCommands.length > 0) {
    w.userCommands(git.postCommands, sectionPrefix(info, "post_clone_script"));
  }

  writeCredentialReject(w, git);
  return w.finish();
}

function writeGitCleanup(w: ScriptWriter, info: ScriptInfo, git: GitSources): void {
  // Lock files left by a job killed mid-git make the next fetch fail; with
  // submodules, those in their git dirs (.git/modules/**) too, as the official runner.
  const gitDir = joinPath(info.projectDir, ".git");
  const files = ["index.lock", "shallow.lock", "HEAD.lock", "hooks/post-checkout", "config.lock"];
  for (const file of files) w.rmFile(joinPath(gitDir, file));
  const refs = joinPath(gitDir, "refs");
  w.ifDirectory(refs);
  w.command("find", refs, "-name", "*.lock", "-type", "f", "-exec", "rm", "-f", "{}", "+");
  w.endIf();
  const modules = git.submoduleStrategy === "none" ? null : joinPath(gitDir, "modules");
  if (modules !== null) {
    const names = files.map((f) => f.slice(f.lastIndexOf("/") + 1));
    const anyName = names.flatMap((n, i) => i === 0 ? ["-name", n] : ["-o", "-name", n]);
    w.ifDirectory(modules);
    w.command("find", modules, "(", ...anyName, ")", "-type", "f", "-exec", "rm", "-f", "{}", "+");
    w.endIf();
  }
  if (git.cleanGitConfig) {
    for (const dir of [w.tmpFile(GIT_TEMPLATE_DIR), gitDir]) {
      w.rmFile(joinPath(dir, "config"));
      w.rmDir(joinPath(dir, "hooks"));
    }
    // A submodule's config and hooks run in the next job's git commands as well.
    if (modules !== null) {
      w.ifDirectory(modules);
      w.command("find", modules, "-name", "config", "-type", "f", "-exec", "rm", "-f", "{}", "+");
      w.command(
        "find",
        modules,
        "-name",
        "hooks",
        "-type",
        "d",
        "-prune",
        "-exec",
        "rm",
        "-rf",
        "{}",
        "+",
      );
      w.endIf();
    }
  }
}

function writeFetch(w: ScriptWriter, info: ScriptInfo, git: GitSources): void {
  const templateDir = w.tmpFile(GIT_TEMPLATE_DIR);
  const templateConfig = joinPath(templateDir, "config");
  const extConfig = w.tmpFile(EXTERNAL_GIT_CONFIG_FILE);

  w.mkdir(templateDir);
  w.command("git", "config", "-f", templateConfig, "init.defaultBranch", "none");
  w.command("git", "config", "-f", templateConfig, "fetch.recurseSubmodules", "false");
  w.command("git", "config", "-f", templateConfig, "credential.interactive", "never");
  w.command("git", "config", "-f", templateConfig, "gc.autoDetach", "false");

  // Credentials live only in this file outside the work tree, as insteadOf
  // rewrites of the credential-less remote; .git/config merely includes it,
  // and cleanup_file_variables deletes it.
  w.rmFile(extConfig);
  if (git.gitalyCorrelationId !== "") {
    const header = `X-Gitaly-Correlation-ID: ${git.gitalyCorrelationId}`;
    w.command("git", "config", "-f", extConfig, "http.extraHeader", header);
    w.notice(`Gitaly correlation ID: ${git.gitalyCorrelationId}`);
  }
  if (git.bundleUris) w.command("git", "config", "-f", extConfig, "transfer.bundleURI", "true");
  if (git.remoteHost !== null) {
    for (const [setting, file] of git.sslFiles) {
      w.command("git", "config", "-f", extConfig, `http.${git.remoteHost}.${setting}`, file);
    }
  }
  for (const [withCreds, withoutCreds] of git.insteadOfs) {
    w.command(
      "git",
      "config",
      "--file",
      extConfig,
      "--replace-all",
      `url.${withCreds}.insteadOf`,
      withoutCreds,
      `^${regexQuote(withoutCreds)}$`,
    );
  }
  const includePattern = `${regexQuote(EXTERNAL_GIT_CONFIG_FILE)}$`;
  w.command(
    "git",
    "config",
    "--file",
    templateConfig,
    "--replace-all",
    "include.path",
    extConfig,
    includePattern,
  );
  w.variable({ key: EXTERNAL_GIT_CONFIG_ENV, value: extConfig, file: false });

  if (git.strategy === "clone") w.rmDir(info.projectDir);

  w.notice(
    git.depth > 0
      ? `Fetching changes with git depth set to ${git.depth}...`
      : "Fetching changes...",
  );
  if (git.objectFormat !== "" && git.objectFormat !== "sha1") {
    w.command(
      "git",
      "init",
      info.projectDir,
      "--template",
      templateDir,
      "--object-format",
      git.objectFormat,
    );
  } else {
    w.command("git", "init", info.projectDir, "--template", templateDir);
  }
  w.cd(info.projectDir);

  w.ifCommand("git", "remote", "add", "origin", git.remoteUrl);
  w.notice("Created fresh repository.");
  w.else();
  w.command("git", "remote", "set-url", "origin", git.remoteUrl);
  // The template only applies to new repositories.
  w.command(
    "git",
    "config",
    "--file",
    ".git/config",
    "--replace-all",
    "include.path",
    extConfig,
    includePattern,
  );
  w.endIf();

  const fetch = [
    "git",
    "-c",
    `http.userAgent=${git.userAgent}`,
    "fetch",
    "origin",
    "--no-recurse-submodules",
  ];
  fetch.push(...git.refspecs);
  if (git.depth > 0) fetch.push("--depth", String(git.depth));
  fetch.push(...git.fetchFlags);
  if (git.depth > 0) {
    w.command(...fetch);
  } else {
    // A full-history job after a shallow one must deepen the existing clone.
    w.ifFile(".git/shallow");
    w.command(...fetch, "--unshallow");
    w.else();
    w.command(...fetch);
    w.endIf();
  }
}

function writeSubmodules(w: ScriptWriter, git: GitSources): void {
  if (git.submoduleStrategy === "none") {
    w.notice(SKIP_SUBMODULES_NOTICE);
    return;
  }
  const recursive = git.submoduleStrategy === "recursive" ? ["--recursive"] : [];
  // `-c` reaches the git processes that clone submodules (GIT_CONFIG_PARAMETERS),
  // so same-host submodules authenticate through the same insteadOf rules.
  const sub = ["git", "-c", `include.path=${w.tmpFile(EXTERNAL_GIT_CONFIG_FILE)}`, "submodule"];
  const depth = git.submoduleDepth > 0 ? ["--depth", String(git.submoduleDepth)] : [];
  const withDepth = depth.length > 0 ? ` with git depth set to ${git.submoduleDepth}` : "";
  w.notice(
    recursive.length > 0
      ? `Updating/initializing submodules recursively${withDepth}...`
      : `Updating/initializing submodules${withDepth}...`,
  );
  const foreach = [...sub, "foreach", ...recursive];
  const clean = () => {
    // Separate arguments, as the official runner: git runs them without a
    // shell, so GIT_CLEAN_FLAGS such as `-e *.log` are not globbed.
    if (git.cleanFlags.length > 0) w.command(...foreach, "git", "clean", ...git.cleanFlags);
  };
  w.command(...sub, "init");
  w.command(...sub, "sync", ...recursive);
  clean();
  w.command(...foreach, "git reset --hard");
  const update = [
    ...sub,
    "update",
    "--init",
    ...recursive,
    ...depth,
    ...git.submoduleUpdateFlags,
  ];
  // One retry after a sync, as the official runner does for changed submodule URLs;
  // the first try's output stays in the log, as there.
  w.ifCommandWithOutput(...update);
  w.notice("Updated submodules");
  w.command(...sub, "sync", ...recursive);
  w.else();
  w.warning("Updating submodules failed. Retrying...");
  w.command(...sub, "sync", ...recursive);
  w.command(...update);
  w.command(...foreach, "git reset --hard");
  w.endIf();
  clean();
  if (!git.lfsSmudgeDisabled) {
    // get_sources runs with GIT_LFS_SKIP_SMUDGE=1: submodules' LFS files are pulled here.
    w.ifCommand("git", "lfs", "version");
    w.command(...foreach, "git lfs pull");
    w.endIf();
  }
}

function writeCredentialReject(w: ScriptWriter, git: Pick<GitSources, "credentialHost">): void {
  if (git.credentialHost === null) return;
  // Best effort: erase a gitlab-ci-token a user's credential helper may have stored.
  w.line(
    `printf '%s\\n' 'url=${
      git.credentialHost.replaceAll("'", "")
    }' 'username=gitlab-ci-token' | git credential reject >/dev/null 2>&1 || true`,
  );
}

/** clear_worktree: run before a get_sources retry; `git clean` is not always enough. */
export function clearWorktreeScript(info: ScriptInfo): string {
  const w = writerFor(info);
  w.notice("Deleting tracked and untracked files...");
  w.ifDirectory(info.projectDir);
  w.cd(info.projectDir);
  w.command("git", "rm", "-rf", "--ignore-unmatch", "--quiet", ".");
  w.command("git", "clean", "-ffdx", "-q");
  w.endIf();
  return w.finish();
}

/** step_<name>: pre_build_script, the step's commands, post_build_script, in one shell. */
export function stepScript(
  info: ScriptInfo,
  commands: readonly string[],
  options: { preBuildScript?: string; postBuildScript?: string } = {},
): string {
  const w = writerFor(info);
  w.exportVariables(info.variables);
  w.cd(info.projectDir);
  if (options.preBuildScript) {
    w.userCommands([options.preBuildScript], sectionPrefix(info, "pre_build_script"));
  }
  w.userCommands(commands, sectionPrefix(info, "script_step"));
  if (options.postBuildScript) {
    w.userCommands([options.postBuildScript], sectionPrefix(info, "post_build_script"));
  }
  return w.finish();
}

/** after_script. */
export function afterScript(info: ScriptInfo, commands: readonly string[]): string {
  const w = writerFor(info);
  w.exportVariables(info.variables);
  w.cd(info.projectDir);
  w.notice("Running after script...");
  w.userCommands(commands, sectionPrefix(info, "after_script_step"));
  return w.finish();
}

/**
 * Commands run in the job's environment for other stages (cache and artifact
 * helpers): variables exported, cwd = project dir, not echoed.
 */
export function commandScript(info: ScriptInfo, lines: readonly string[]): string {
  const w = writerFor(info);
  w.exportVariables(info.variables);
  w.cd(info.projectDir);
  for (const line of lines) {
    w.line(line);
    w.checkForErrors();
  }
  return w.finish();
}

/**
 * get_sources of a `runner exec` job on another host (ssh, custom): empties
 * the project directory (an earlier run's files go, as a fresh checkout has
 * none of them) and extracts `archiveBase64`, a tar of the working tree, into
 * it. The archive rides in the script, so it reaches wherever the script
 * runs; `printf` is a builtin, so its size meets no argument limit. Needs
 * `base64`, `tar` and `find` where the job runs.
 */
export function workspaceScript(info: ScriptInfo, archiveBase64: string): string {
  // Never traced (CI_DEBUG_TRACE): the trace would print the whole archive.
  const w = writerFor({ ...info, debugTrace: false });
  w.mkdir(info.projectDir);
  w.cd(info.projectDir);
  w.line("find . -mindepth 1 -maxdepth 1 -exec rm -rf {} +");
  w.checkForErrors();
  // Wrapped at 76 columns, as base64(1) writes it: no line of the script is megabytes long.
  const wrapped = archiveBase64.replace(/.{76}/g, "$&\n");
  w.line(`printf '%s' '${wrapped}' | base64 -d | tar -xf -`);
  w.checkForErrors();
  return w.finish();
}

/**
 * cleanup_file_variables: removes the GITLAB_ENV file, the credential config
 * and every file variable's file. The token a credential helper may have
 * stored is rejected only after a fetch or clone: with GIT_STRATEGY none or
 * empty no git command got the job's credentials from us, and the reject
 * would be a `git` process start in every job.
 */
export function cleanupScript(
  info: ScriptInfo,
  git: Pick<GitSources, "credentialHost" | "strategy">,
): string {
  const w = new ScriptWriter({ tmpDir: info.tmpDir, legacyEval: info.legacyEval });
  if (isCredentialRejectNeeded(git)) writeCredentialReject(w, git);
  // One `rm` for all files: each command is a process start in the stage.
  w.rmFiles(...cleanupFiles(info));
  return w.finish();
}

/** Whether cleanup_file_variables has a git credential to reject (so needs a script). */
export function isCredentialRejectNeeded(git: Pick<GitSources, "strategy">): boolean {
  return git.strategy === "fetch" || git.strategy === "clone";
}

/** The files cleanup_file_variables removes: GITLAB_ENV, the masking and git config, file variables. */
export function cleanupFiles(info: Pick<ScriptInfo, "tmpDir" | "variables">): string[] {
  return [
    GITLAB_ENV_FILE,
    "masking.db",
    EXTERNAL_GIT_CONFIG_FILE,
    ...info.variables.filter((v) => v.file).map((v) => v.key),
  ].map((name) => joinPath(info.tmpDir, name));
}
