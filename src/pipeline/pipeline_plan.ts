import type { JobSpec } from "../job/job_spec.ts";
import { basename } from "../path/host_path.ts";
import { CiConfigError, type CiWarning } from "./ci_config_error.ts";
import { computeCacheKey } from "./cache_key.ts";
import type { CiYamlParse } from "./ci_yaml_parse.ts";
import type { ExecVariable } from "./exec_variable.ts";
import type { GitState } from "./git_state.ts";
import { buildJobSpec } from "./job_spec_builder.ts";
import { expandParallel, type JobInstance } from "./parallel_expansion.ts";
import type {
  AllowFailureConfig,
  CiVariable,
  EnvironmentConfig,
  JobConfig,
  NeedConfig,
  Pipeline,
  RetryConfig,
} from "./pipeline.ts";
import { loadPipeline } from "./load_pipeline.ts";
import { environmentSlug, jobVariables, pipelineVariables } from "./predefined_variables.ts";
import type { ProjectFiles } from "./project_files.ts";
import {
  evaluateOnlyExcept,
  evaluateRules,
  hasChangesRules,
  hasFileRules,
  loadGlobMatch,
  NO_GLOB_MATCH,
  type RuleContext,
} from "./rule_evaluation.ts";
import { expandVariables } from "./variable_expansion.ts";

/** GitLab: "Parent and child pipelines have a maximum depth of two levels of child pipelines." */
const MAX_CHILD_DEPTH = 2;

/** The `when` of a planned job; `delayed` runs as `on_success`, `manual` only when named. */
export type PlannedWhen = "on_success" | "on_failure" | "always" | "manual";

export interface PlannedJob {
  /** Instance name: `build`, `test 1/3`, `test: [ruby, 3.3]`. */
  name: string;
  /** Name of the job in `.gitlab-ci.yml`. */
  configName: string;
  stage: string;
  stageIndex: number;
  when: PlannedWhen;
  allowFailure: AllowFailureConfig;
  retry: RetryConfig;
  /** Seconds. */
  timeout: number;
  isInterruptible: boolean;
  /** Planned jobs named in `needs:`; null when the job follows stage order. */
  needs: string[] | null;
  /**
   * Planned jobs that must finish before this one may start: its needs, or
   * every planned job of an earlier stage. Whether it then runs depends on
   * `when` and their outcome (see `PipelineSchedule`).
   */
  waitsFor: string[];
  /** Planned jobs whose artifacts (and dotenv reports) this job receives. */
  artifactsFrom: string[];
  /** The `coverage:` regex (`/…/`), or empty. */
  coverageRegex: string;
  /** Things the user should know about this job (dropped needs, delayed, …). */
  notes: string[];
  /**
   * The payload GitLab would send; ids are 1, 2, … in plan order. Its
   * dependencies' `token` and `artifacts_file` are empty: whoever runs the
   * plan fills them in as the job starts (`runPipeline`).
   */
  jobSpec: JobSpec;
  /**
   * Set for a job that fails as soon as it may start, without running: a
   * trigger job whose child pipeline cannot be created, which GitLab fails
   * (downstream_pipeline_creation_failed).
   */
  failure?: string;
  /**
   * How many variables at the end of `jobSpec.variables` come from outside
   * the YAML (variables file, `--variable`, GIT_STRATEGY); dotenv variables
   * go before them (`withDotenvVariables`).
   */
  userVariableCount: number;
}

export interface SkippedJob {
  name: string;
  stage: string;
  when: string;
  reason: string;
}

/**
 * How jobs get the project's files. Exec runs what is on disk, committed or
 * not: before each job, the runner copies `files` (and `.git`, so git
 * commands work) from `sourceDir` into the job's project directory, and the
 * payload says `GIT_STRATEGY=none`. Each job starts from its own copy, as in
 * GitLab where every job starts from a fresh checkout; files pass between
 * jobs only as artifacts and cache. The user's working tree is never written.
 */
export interface WorkspacePlan {
  mode: "copy";
  sourceDir: string;
  /** Relative paths: tracked files and untracked files that are not ignored. */
  files: string[];
  isGitDirCopied: boolean;
  gitStrategy: "none";
}

export interface Plan {
  /** False when `workflow:rules` keep the pipeline from being created; then `jobs` is empty. */
  isCreated: boolean;
  stages: string[];
  /** In run order: every job comes after all jobs in its `waitsFor`. */
  jobs: PlannedJob[];
  skipped: SkippedJob[];
  workspace: WorkspacePlan;
  warnings: CiWarning[];
  notes: string[];
}

export interface PlanOptions {
  git: GitState;
  /** For `exists:`, `cache:key:files` and the workspace file list. */
  files: ProjectFiles;
  /** Jobs named on the command line; empty: every job except manual ones. */
  jobs?: string[];
  /** Also run what the named jobs need (transitively), manual jobs included. */
  isNeedsIncluded?: boolean;
  /** Variables file entries then `--variable`s: later entries win. */
  variables?: ExecVariable[];
  /**
   * Seconds every job's timeout is capped at, as GitLab caps it at the
   * runner's `maximum_timeout` (`runner exec --timeout`); default: none.
   */
  maximumTimeout?: number;
  /** `namespace/name`; default: the `origin` remote's path, else `local/<dir name>`. */
  projectPath?: string;
  pipelineId?: number;
  /** CI_PIPELINE_SOURCE; default `push`. */
  pipelineSource?: string;
  /** Job tokens; default: random. */
  newToken?: () => string;
  /** Default: now. */
  now?: Date;
  /** Id of the first planned job (child pipelines number on from their parent); default 1. */
  firstJobId?: number;
  /** 0 for the main pipeline, 1 for its child pipelines, … */
  childDepth?: number;
  /** Parses the files of child pipelines (`trigger:include`); default as in `loadPipeline`. */
  parse?: CiYamlParse;
}

/** A job named on the command line cannot be run; the message says why. */
export class JobSelectionError extends Error {
  override readonly name = "JobSelectionError";
}

interface Candidate {
  instance: JobInstance;
  job: JobConfig;
  jobIndex: number;
  when: PlannedWhen;
  allowFailure: AllowFailureConfig;
  needs: NeedConfig[] | null;
  ruleVariables: CiVariable[];
  notes: string[];
}

/**
 * Whether planning `pipeline` reads the changed files (`GitState.changedFiles`):
 * `changes` in workflow:rules, or in a job's rules, only or except.
 */
export function isReadingChanges(pipeline: Pipeline): boolean {
  return hasChangesRules(pipeline.workflow.rules) ||
    pipeline.jobs.some((j) => hasChangesRules(j.rules, [j.only, j.except]));
}

/**
 * Turns a loaded pipeline into the ordered list of jobs exec runs, each with
 * the payload GitLab would send. Rules are evaluated here (they depend on
 * the variables and the git state), parallel jobs are expanded, needs and
 * stage order give the run order.
 */
/** How many job names an unknown-job error lists. */
const MAX_LISTED_JOBS = 20;

export async function planPipeline(pipeline: Pipeline, options: PlanOptions): Promise<Plan> {
  const git = options.git;
  const execVariables = options.variables ?? [];
  const projectName = basename(pipeline.projectDir) || "project";
  const projectPath = options.projectPath ?? (git.remotePath || `local/${projectName}`);
  const pipelineId = options.pipelineId ?? 1;
  const newToken = options.newToken ?? randomToken;
  const projectFiles = await options.files.listFiles();
  const warnings = [...pipeline.warnings];
  const notes: string[] = [];
  const workspace: WorkspacePlan = {
    mode: "copy",
    sourceDir: pipeline.projectDir,
    files: projectFiles,
    isGitDirCopied: true,
    gitStrategy: "none",
  };
  const predefined = pipelineVariables({
    git,
    projectDir: pipeline.projectDir,
    projectName,
    projectPath,
    pipelineId,
    pipelineSource: options.pipelineSource ?? "push",
    pipelineName: pipeline.workflow.name,
    createdAt: (options.now ?? new Date()).toISOString(),
  });
  // picomatch loads only for a pipeline whose rules look at files.
  const isGlobbing = hasFileRules(pipeline.workflow.rules) ||
    pipeline.jobs.some((j) => hasFileRules(j.rules, [j.only, j.except]));
  const matchGlobs = isGlobbing ? await loadGlobMatch() : NO_GLOB_MATCH;
  const ruleContext = (vars: ReadonlyArray<[string, string] | CiVariable>): RuleContext => ({
    lookup: lookupOf([...vars, ...execVariables]),
    changedFiles: git.changedFiles,
    projectFiles,
    matchGlobs,
  });

  checkNeedsGraph(pipeline);

  let globalVariables = pipeline.variables;
  if (pipeline.workflow.rules) {
    const outcome = evaluateRules(
      pipeline.workflow.rules,
      ruleContext([...predefined, ...globalVariables]),
      "workflow.rules",
    );
    if (!outcome || outcome.when === "never") {
      const why = outcome ? `rule ${outcome.index + 1} says when: never` : "no rule matched";
      notes.push(`The pipeline is not created: workflow:rules: ${why}`);
      return {
        isCreated: false,
        stages: pipeline.stages,
        jobs: [],
        skipped: [],
        workspace,
        warnings,
        notes,
      };
    }
    globalVariables = [...globalVariables, ...outcome.variables];
  }

  // Decide which jobs are in the pipeline at all (rules, only/except).
  const skipped: SkippedJob[] = [];
  const excluded = new Map<string, string>();
  const candidates: Candidate[] = [];
  const blocked = externallyBlocked(pipeline);
  for (const [jobIndex, job] of pipeline.jobs.entries()) {
    const blockedReason = blocked.get(job.name);
    if (blockedReason) {
      excluded.set(job.name, blockedReason);
      skipped.push({ name: job.name, stage: job.stage, when: job.when, reason: blockedReason });
      continue;
    }
    const instances = expandParallel(job);
    if (instances.length === 0) {
      // `matrix: []`: GitLab makes no job of it; say so rather than drop it unlisted.
      const reason = "parallel:matrix is empty, so it makes no job";
      excluded.set(job.name, reason);
      skipped.push({ name: job.name, stage: job.stage, when: job.when, reason });
    }
    // GitLab evaluates rules per parallel instance: they see its matrix variables.
    for (const instance of instances) {
      const outcome = decideInstance(job, {
        base: [
          ...predefined,
          ["CI_JOB_NAME", instance.name],
          ["CI_JOB_STAGE", job.stage],
          ...inheritedOf(job, globalVariables),
          ...job.variables,
          ...instance.matrixVariables,
        ],
        ruleContext,
        git,
        pipelineSource: options.pipelineSource ?? "push",
      });
      if (outcome.kind === "excluded") {
        excluded.set(job.name, outcome.reason);
        excluded.set(instance.name, outcome.reason);
        if (outcome.isListed) {
          skipped.push({
            name: instance.name,
            stage: job.stage,
            when: outcome.when,
            reason: outcome.reason,
          });
        }
        continue;
      }
      candidates.push({ ...outcome.candidate, instance, job, jobIndex });
    }
  }

  const byJob = new Map<string, Candidate[]>();
  for (const c of candidates) byJob.set(c.job.name, [...(byJob.get(c.job.name) ?? []), c]);
  const stageIndexes = new Map(pipeline.stages.map((s, i) => [s, i]));
  const stageIndex = (stage: string) => stageIndexes.get(stage) ?? -1;

  // Resolve needs to instances; needs on jobs excluded by rules are errors unless optional.
  const resolvedNeeds = new Map<Candidate, Array<{ target: Candidate; need: NeedConfig }> | null>();
  for (const c of candidates) {
    if (c.needs === null) {
      resolvedNeeds.set(c, null);
      continue;
    }
    const list: Array<{ target: Candidate; need: NeedConfig }> = [];
    for (const need of c.needs) {
      if (need.external !== "") continue;
      const targets = (byJob.get(need.job) ?? []).filter((t) =>
        need.matrix === null ||
        need.matrix.some((row) =>
          Object.entries(row).every(([k, values]) =>
            t.instance.matrixVariables.some(([mk, mv]) =>
              mk === k && values.some((v) => matrixValue(v, c.instance) === mv)
            )
          )
        )
      );
      if (targets.length === 0) {
        if (need.optional) continue;
        const reason = excluded.get(need.job) ?? "it has no matching parallel instance";
        throw new CiConfigError(
          c.job.loc,
          `jobs.${c.job.name}.needs`,
          `"${need.job}" is not in the pipeline (${reason}); mark the need optional: true to allow this`,
        );
      }
      for (const target of targets) list.push({ target, need });
    }
    resolvedNeeds.set(c, list);
  }

  // Selection: named jobs, else everything but manual jobs.
  const selected = new Set<Candidate>();
  const requested = options.jobs ?? [];
  if (requested.length === 0) {
    for (const c of candidates) {
      if (c.when === "manual") {
        skipped.push({
          name: c.instance.name,
          stage: c.job.stage,
          when: "manual",
          reason: "manual job; name it to run it",
        });
      } else selected.add(c);
    }
  } else {
    for (const name of requested) {
      const matches = candidates.filter((c) => c.instance.name === name || c.job.name === name);
      if (matches.length === 0) {
        const why = excluded.get(name);
        if (why) throw new JobSelectionError(`Job "${name}" is not in the pipeline: ${why}`);
        if (name.startsWith(".")) {
          throw new JobSelectionError(
            `Job "${name}" is hidden: a name starting with "." is a template, never run`,
          );
        }
        // A long list (a big matrix) is cut: the first names show the pattern.
        const known = [...new Set(candidates.map((c) => c.instance.name))];
        const shown = known.length > MAX_LISTED_JOBS
          ? [...known.slice(0, MAX_LISTED_JOBS), `… (${known.length - MAX_LISTED_JOBS} more)`]
          : known;
        throw new JobSelectionError(`Job "${name}" is not defined; jobs: ${shown.join(", ")}`);
      }
      for (const m of matches) selected.add(m);
    }
    if (options.isNeedsIncluded) {
      const add = (c: Candidate) => {
        for (const { target } of resolvedNeeds.get(c) ?? []) {
          if (!selected.has(target)) {
            selected.add(target);
            add(target);
          }
        }
      };
      for (const c of [...selected]) add(c);
    }
    for (const c of candidates) {
      if (!selected.has(c)) {
        skipped.push({
          name: c.instance.name,
          stage: c.job.stage,
          when: c.when,
          reason: "not selected",
        });
      }
    }
  }

  // Order: needs, else stage order; ties by stage, then definition order.
  const key = (c: Candidate) => [stageIndex(c.job.stage), c.jobIndex, c.instance.nodeIndex];
  const compare = (a: Candidate, b: Candidate) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < 3; i++) if (ka[i]! !== kb[i]!) return ka[i]! - kb[i]!;
    return 0;
  };
  const pool = [...selected].sort(compare);
  // The pool is in stage order: the jobs of earlier stages are a prefix of it.
  const stageStart = new Map<number, number>();
  for (const [i, o] of pool.entries()) {
    const s = stageIndex(o.job.stage);
    if (!stageStart.has(s)) stageStart.set(s, i);
  }
  // Manual jobs that block later stages (see blockingManual), in definition order.
  const manualBlockers = candidates.filter((o) =>
    o.when === "manual" && !selected.has(o) && !o.allowFailure.isAllowed
  );
  const dropped = new Set<Candidate>();
  const planned: Candidate[] = [];
  const waits = new Map<Candidate, Candidate[]>();
  const needsOf = new Map<Candidate, Candidate[] | null>();
  const artifactsOf = new Map<Candidate, Candidate[]>();
  const remaining = new Set(pool);
  // The jobs of a stage that follow stage order all wait for the same jobs
  // (by the time one is ordered, every earlier stage is): one array per
  // stage, so a pipeline of n such jobs plans in O(n) memory, not O(n²).
  const stageDeps = new Map<number, Candidate[]>();
  while (remaining.size > 0) {
    let progressed = false;
    for (const c of pool) {
      if (!remaining.has(c)) continue;
      const resolved = resolvedNeeds.get(c) ?? null;
      let deps: Candidate[];
      if (resolved === null) {
        const s = stageIndex(c.job.stage);
        let shared = stageDeps.get(s);
        if (shared === undefined) {
          const earlier = pool.slice(0, stageStart.get(s));
          if (earlier.some((d) => remaining.has(d))) continue;
          shared = earlier.filter((o) => !dropped.has(o));
          stageDeps.set(s, shared);
        }
        deps = shared;
      } else {
        deps = resolved.map((r) => r.target).filter((t) => selected.has(t));
        if (deps.some((d) => remaining.has(d))) continue;
      }
      remaining.delete(c);
      progressed = true;
      // A needed job that will not run (skipped manual, or dropped itself) blocks this one.
      const blocking = (resolved ?? []).find((r) =>
        !r.need.optional &&
        (dropped.has(r.target) || (!selected.has(r.target) && r.target.when === "manual"))
      );
      // GitLab: a manual job that may not fail (allow_failure: false, the
      // default for `when: manual` from rules) blocks later stages until run.
      // Jobs named on the command line run as asked.
      const blockingManual = resolved === null && requested.length === 0
        ? manualBlockers.find((o) => stageIndex(o.job.stage) < stageIndex(c.job.stage))
        : undefined;
      if (blockingManual) {
        dropped.add(c);
        skipped.push({
          name: c.instance.name,
          stage: c.job.stage,
          when: c.when,
          reason:
            `blocked by manual job "${blockingManual.instance.name}" (allow_failure: false); name it to run it`,
        });
        continue;
      }
      if (blocking) {
        dropped.add(c);
        skipped.push({
          name: c.instance.name,
          stage: c.job.stage,
          when: c.when,
          reason: `needs "${blocking.target.instance.name}", which is not run`,
        });
        continue;
      }
      if (resolved !== null) {
        for (const r of resolved) {
          if (!selected.has(r.target)) {
            c.notes.push(
              `needs "${r.target.instance.name}", which is not selected: its artifacts are missing`,
            );
          }
        }
      }
      const liveDeps = resolved === null ? deps : deps.filter((d) => !dropped.has(d));
      waits.set(c, liveDeps);
      needsOf.set(c, resolved === null ? null : liveDeps);
      let fromArtifacts = resolved === null
        ? liveDeps
        : (resolved ?? []).filter((r) => r.need.artifacts && liveDeps.includes(r.target)).map((r) =>
          r.target
        );
      if (c.job.dependencies !== null) {
        const deps = c.job.dependencies;
        const needed = new Set((c.needs ?? []).map((n) => n.job));
        for (const name of deps) checkDependency(pipeline, c.job, name, { stageIndex, needed });
        fromArtifacts = (resolved === null ? planned : fromArtifacts).filter((d) =>
          deps.includes(d.job.name) &&
          (stageIndex(d.job.stage) < stageIndex(c.job.stage) || needed.has(d.job.name))
        );
      }
      artifactsOf.set(c, fromArtifacts);
      planned.push(c);
    }
    if (!progressed) {
      // checkNeedsGraph rules out cycles between jobs; this guards the invariant.
      throw new Error(
        `Cannot order jobs: ${[...remaining].map((c) => c.instance.name).join(", ")}`,
      );
    }
  }

  const firstId = options.firstJobId ?? 1;
  const ids = new Map<Candidate, number>(planned.map((c, i) => [c, firstId + i]));
  // Shared arrays of candidates (a stage's jobs, above) map to shared arrays.
  const namesOf = memoized((cs: Candidate[]) => cs.map((n) => n.instance.name));
  const upstreamOf = memoized((cs: Candidate[]) =>
    cs.map((d) => ({ id: ids.get(d)!, name: d.instance.name }))
  );
  const jobs: PlannedJob[] = [];
  let nextChildId = firstId + planned.length;
  let childPipelines = 0;
  /** Trigger job → what waiting for it means: its child jobs (strategy: depend) or nothing. */
  const triggerWaits = new Map<string, string[]>();
  for (const c of planned) {
    let failure = "";
    if (c.job.trigger && c.job.trigger.localIncludes.length > 0) {
      if ((options.childDepth ?? 0) >= MAX_CHILD_DEPTH) {
        skipped.push({
          name: c.instance.name,
          stage: c.job.stage,
          when: c.when,
          reason: `child pipelines nest at most ${MAX_CHILD_DEPTH} levels deep (GitLab's limit)`,
        });
        triggerWaits.set(c.instance.name, []);
        continue;
      }
      // A child pipeline: its jobs take the trigger job's place, after what it waits for.
      const prefix = `${c.instance.name}/`;
      const child = await planPipeline(
        await loadChildPipeline(pipeline.projectDir, options, c.job),
        {
          git,
          files: options.files,
          // Lowest first: the project's settings (the variables file), then the
          // child's pipeline variables: the trigger job's, and the parent's
          // (--variable) only when asked to forward them.
          variables: [
            ...execVariables.filter((v) => !v.isPipelineVariable),
            ...forwardedVariables(c, inheritedOf(c.job, globalVariables)),
            ...execVariables.filter((v) =>
              v.isPipelineVariable && c.job.trigger!.isPipelineVariablesForwarded
            ),
          ],
          projectPath,
          pipelineId: pipelineId + 1 + childPipelines++,
          pipelineSource: "parent_pipeline",
          newToken,
          firstJobId: nextChildId,
          childDepth: (options.childDepth ?? 0) + 1,
          ...(options.now ? { now: options.now } : {}),
          ...(options.parse ? { parse: options.parse } : {}),
        },
      );
      for (const sj of child.skipped) skipped.push({ ...sj, name: prefix + sj.name });
      for (const note of child.notes) notes.push(`Child pipeline "${c.instance.name}": ${note}`);
      warnings.push(...child.warnings.filter((w) => !warnings.some((x) => x === w)));
      if (child.isCreated && child.jobs.length > 0) {
        nextChildId += child.jobs.length;
        const own = namesOf(waits.get(c)!);
        for (const cj of child.jobs) {
          jobs.push({
            ...cj,
            name: prefix + cj.name,
            stageIndex: stageIndex(c.job.stage),
            needs: cj.needs === null ? null : cj.needs.map((n) => prefix + n),
            waitsFor: [...own, ...cj.waitsFor.map((n) => prefix + n)],
            artifactsFrom: cj.artifactsFrom.map((n) => prefix + n),
          });
        }
        triggerWaits.set(
          c.instance.name,
          c.job.trigger.isDepend ? child.jobs.map((j) => prefix + j.name) : [],
        );
        continue;
      }
      // GitLab fails the trigger job (downstream_pipeline_creation_failed):
      // it is planned itself, and fails as soon as it may start.
      failure = `downstream pipeline cannot be created: ${
        child.isCreated ? "it has no jobs" : "its workflow:rules filter it out"
      }`;
    }
    const id = ids.get(c)!;
    const token = newToken();
    const cacheKeys: string[] = [];
    for (const cache of c.job.cache) cacheKeys.push(await computeCacheKey(cache, options.files));
    const inherited = inheritedOf(c.job, globalVariables);
    const environment = c.job.environment
      ? await expandEnvironment(c.job.environment, [
        ...predefined,
        ["CI_JOB_NAME", c.instance.name],
        ["CI_JOB_STAGE", c.job.stage],
        ...inherited,
        ...c.job.variables,
        ...c.instance.matrixVariables,
        ...c.ruleVariables,
      ], execVariables)
      : null;
    const { spec, userVariableCount } = buildJobSpec({
      id,
      token,
      name: c.instance.name,
      job: c.job,
      pipelineId,
      projectName,
      projectPath,
      projectDir: pipeline.projectDir,
      git,
      yamlLayers: [
        predefined,
        jobVariables({
          name: c.instance.name,
          stage: c.job.stage,
          id,
          nodeIndex: c.instance.nodeIndex,
          nodeTotal: c.instance.nodeTotal,
          isManual: c.when === "manual",
          environment,
        }),
        inherited,
        c.job.variables,
        c.instance.matrixVariables,
        c.ruleVariables,
      ],
      execVariables,
      cacheKeys,
      dependencies: upstreamOf(artifactsOf.get(c)!),
      ...(options.maximumTimeout !== undefined ? { maximumTimeout: options.maximumTimeout } : {}),
    });
    const needs = needsOf.get(c)!;
    jobs.push({
      name: c.instance.name,
      configName: c.job.name,
      stage: c.job.stage,
      stageIndex: stageIndex(c.job.stage),
      when: c.when,
      allowFailure: c.allowFailure,
      retry: c.job.retry,
      timeout: spec.timeout,
      isInterruptible: c.job.interruptible,
      needs: needs === null ? null : namesOf(needs),
      waitsFor: namesOf(waits.get(c)!),
      artifactsFrom: namesOf(artifactsOf.get(c)!),
      coverageRegex: c.job.coverage,
      notes: c.notes,
      jobSpec: spec,
      userVariableCount,
      ...(failure !== "" ? { failure } : {}),
    });
  }
  if (triggerWaits.size > 0) {
    const resolve = (names: string[]) => names.flatMap((n) => triggerWaits.get(n) ?? [n]);
    for (const job of jobs) {
      job.waitsFor = resolve(job.waitsFor);
      if (job.needs !== null) job.needs = resolve(job.needs);
    }
  }
  checkUniqueNames(pipeline, jobs);
  return { isCreated: true, stages: pipeline.stages, jobs, skipped, workspace, warnings, notes };
}

/**
 * The child pipeline of a `trigger:include` job: its local files read as
 * one configuration, like GitLab's child pipeline (a virtual main file that
 * includes them, named after the trigger job for error messages).
 */
async function loadChildPipeline(
  projectDir: string,
  { files, parse }: Pick<PlanOptions, "files" | "parse">,
  job: JobConfig,
) {
  const main = `${job.trigger!.localIncludes.join("+")} (child of "${job.name}")`;
  const text = "include:\n" +
    job.trigger!.localIncludes.map((p) => `  - local: ${JSON.stringify(p)}\n`).join("");
  return await loadPipeline(projectDir, {
    files: {
      readText: (path: string) => path === main ? Promise.resolve(text) : files.readText(path),
      readBytes: (path: string) => files.readBytes(path),
      listFiles: () => files.listFiles(),
    },
    ciFile: main,
    ...(parse ? { parse } : {}),
  });
}

/**
 * Exec runs a child pipeline's jobs in this one, named `<trigger job>/<job>`,
 * and parallel jobs as `<job> 1/2`: a job of the file may already have such
 * a name (GitLab keeps child pipelines apart). Two jobs of one name cannot
 * be told apart when they run, so the file is refused, naming the job.
 */
function checkUniqueNames(pipeline: Pipeline, jobs: PlannedJob[]): void {
  const seen = new Set<string>();
  for (const { name } of jobs) {
    if (!seen.has(name)) {
      seen.add(name);
      continue;
    }
    const job = pipeline.jobs.find((j) => j.name === name);
    throw new CiConfigError(
      job?.loc ?? { file: pipeline.files[0] ?? ".gitlab-ci.yml", line: 0 },
      `jobs.${name}`,
      "is also the name exec gives a child pipeline's job (<trigger job>/<job>) or a parallel job (<job> 1/2): rename it",
    );
  }
}

/** GitLab passes a trigger job's YAML variables on to its child pipeline (`forward:yaml_variables`). */
function forwardedVariables(c: Candidate, inherited: CiVariable[]): ExecVariable[] {
  if (!c.job.trigger?.isYamlVariablesForwarded) return [];
  const vars: Array<[string, string] | CiVariable> = [
    ...inherited,
    ...c.job.variables,
    ...c.instance.matrixVariables,
    ...c.ruleVariables,
  ];
  // They are the child's pipeline variables (its own children get them with forward:pipeline_variables).
  const pipelineVariable = { isMasked: false, isFile: false, isPipelineVariable: true } as const;
  return vars.map((v) =>
    Array.isArray(v)
      ? { key: v[0], value: v[1], isRaw: true, ...pipelineVariable }
      : { key: v.key, value: v.value, isRaw: v.isRaw, ...pipelineVariable }
  );
}

/** `$[[ matrix.NAME ]]` in `needs:parallel:matrix` is the needing instance's own value of NAME. */
function matrixValue(value: string, own: JobInstance): string {
  const m = /^\$\[\[\s*matrix\.(\w+)\s*\]\]$/.exec(value);
  if (!m) return value;
  return own.matrixVariables.find(([k]) => k === m[1])?.[1] ?? value;
}

/**
 * Jobs exec cannot run because they need what only GitLab has (`needs:project`,
 * `needs:pipeline`), directly or through the jobs they need, with the reason.
 */
function externallyBlocked(pipeline: Pipeline): Map<string, string> {
  const blocked = new Map<string, string>();
  for (const name of pipeline.unavailableJobs ?? []) {
    blocked.set(name, "extends a template from an include exec skipped");
  }
  for (const job of pipeline.jobs) {
    const need = (job.needs ?? []).find((n) => n.external !== "");
    if (need) blocked.set(job.name, `${need.external} needs GitLab; not run locally`);
  }
  for (let changed = true; changed;) {
    changed = false;
    for (const job of pipeline.jobs) {
      if (blocked.has(job.name)) continue;
      const need = (job.needs ?? []).find((n) => !n.optional && blocked.has(n.job));
      if (need) {
        blocked.set(job.name, `needs "${need.job}", which is not run`);
        changed = true;
      }
    }
  }
  return blocked;
}

/**
 * GitLab expands `environment:name` and `url` with the job's variables
 * before it slugs the name, so `review/$CI_COMMIT_REF_SLUG` gets the slug of
 * `review/main`.
 */
async function expandEnvironment(
  env: EnvironmentConfig,
  vars: ReadonlyArray<[string, string] | CiVariable>,
  execVariables: ExecVariable[],
) {
  const lookup = lookupOf([...vars, ...execVariables]);
  const name = expandVariables(env.name, lookup);
  return {
    name,
    slug: await environmentSlug(name),
    url: expandVariables(env.url, lookup),
    action: env.action,
    tier: env.tier,
  };
}

function inheritedOf(job: JobConfig, globals: CiVariable[]): CiVariable[] {
  const inherit = job.inheritVariables;
  return globals.filter((v) =>
    inherit === true || (Array.isArray(inherit) && inherit.includes(v.key))
  );
}

interface InstanceInputs {
  base: Array<[string, string] | CiVariable>;
  ruleContext: (vars: ReadonlyArray<[string, string] | CiVariable>) => RuleContext;
  git: GitState;
  pipelineSource: string;
}

type InstanceOutcome =
  | { kind: "excluded"; reason: string; when: string; isListed: boolean }
  | { kind: "included"; candidate: Omit<Candidate, "instance" | "job" | "jobIndex"> };

/** Whether one instance of `job` is in the pipeline (rules, only/except, when), and how. */
function decideInstance(
  job: JobConfig,
  inputs: InstanceInputs,
): InstanceOutcome {
  const ctx = inputs.ruleContext(inputs.base);
  const jobNotes: string[] = [];
  let when = job.when;
  let allowFailure = job.allowFailure;
  let needs = job.needs;
  let ruleVariables: CiVariable[] = [];
  let startIn = job.startIn;
  let isManualDefaultAllowed = true;
  if (job.rules) {
    const outcome = evaluateRules(job.rules, ctx, `jobs.${job.name}.rules`);
    if (!outcome || outcome.when === "never") {
      const reason = outcome
        ? `rules: rule ${outcome.index + 1} says when: never`
        : "rules: no rule matched";
      return { kind: "excluded", reason, when: "never", isListed: true };
    }
    when = outcome.when ?? job.when;
    startIn = outcome.startIn;
    if (outcome.allowFailure !== null) {
      allowFailure = { isAllowed: outcome.allowFailure, exitCodes: [] };
    }
    if (outcome.needs) needs = outcome.needs;
    ruleVariables = outcome.variables;
    // GitLab: `when: manual` set by a rule does not imply allow_failure.
    isManualDefaultAllowed = outcome.when !== "manual";
  } else if (
    !evaluateOnlyExcept(
      job.only,
      job.except,
      { ref: inputs.git.ref, refType: inputs.git.refType, pipelineSource: inputs.pipelineSource },
      ctx,
      `jobs.${job.name}`,
    )
  ) {
    const reason = "only/except: the ref does not match";
    return { kind: "excluded", reason, when: "never", isListed: true };
  }
  if (job.trigger && (job.trigger.unsupported !== "" || job.trigger.localIncludes.length === 0)) {
    const what = job.trigger.unsupported || "this trigger";
    const reason = `${what} needs GitLab; not run locally`;
    return { kind: "excluded", reason, when, isListed: true };
  }
  if (when === "never") return { kind: "excluded", reason: "when: never", when, isListed: false };
  if (when === "delayed") {
    jobNotes.push(`when: delayed runs at once locally (start_in ${startIn} is not waited for)`);
    when = "on_success";
  }
  allowFailure ??= { isAllowed: when === "manual" && isManualDefaultAllowed, exitCodes: [] };
  return {
    kind: "included",
    candidate: {
      when: when as PlannedWhen,
      allowFailure,
      needs,
      ruleVariables,
      notes: jobNotes,
    },
  };
}

/**
 * `dependencies` name jobs of earlier stages, or (GitLab 14.2 and later) a
 * job of the same stage that is also in `needs`.
 */
function checkDependency(
  pipeline: Pipeline,
  job: JobConfig,
  name: string,
  options: { stageIndex: (stage: string) => number; needed: Set<string> },
): void {
  const { stageIndex } = options;
  const target = pipeline.jobs.find((j) => j.name === name);
  if (!target) {
    throw new CiConfigError(
      job.loc,
      `jobs.${job.name}.dependencies`,
      `"${name}" is not a job of this pipeline`,
    );
  }
  const isNeededSameStage = options.needed.has(name) &&
    stageIndex(target.stage) === stageIndex(job.stage);
  if (stageIndex(target.stage) >= stageIndex(job.stage) && !isNeededSameStage) {
    throw new CiConfigError(
      job.loc,
      `jobs.${job.name}.dependencies`,
      `"${name}" is not in an earlier stage (nor a same-stage job in needs)`,
    );
  }
}

/**
 * Needs must name defined jobs of the same or an earlier stage and must not
 * form a cycle; checked on the whole file, whatever the rules decide.
 */
function checkNeedsGraph(pipeline: Pipeline): void {
  const jobs = new Map(pipeline.jobs.map((j) => [j.name, j]));
  const needsOf = (job: JobConfig): NeedConfig[] => [
    ...(job.needs ?? []),
    ...(job.rules ?? []).flatMap((r) => r.needs ?? []),
  ];
  for (const job of pipeline.jobs) {
    for (const need of needsOf(job)) {
      if (need.external !== "") continue;
      const target = jobs.get(need.job);
      if (!target) {
        if (need.optional || pipeline.unavailableJobs?.includes(need.job)) continue;
        throw new CiConfigError(
          job.loc,
          `jobs.${job.name}.needs`,
          `"${need.job}" is not a job of this pipeline`,
        );
      }
      if (pipeline.stages.indexOf(target.stage) > pipeline.stages.indexOf(job.stage)) {
        throw new CiConfigError(
          job.loc,
          `jobs.${job.name}.needs`,
          `"${need.job}" is in a later stage ("${target.stage}" comes after "${job.stage}")`,
        );
      }
    }
  }
  const state = new Map<string, "visiting" | "done">();
  const visit = (job: JobConfig, path: string[]) => {
    if (state.get(job.name) === "done") return;
    if (state.get(job.name) === "visiting") {
      const cycle = [...path.slice(path.indexOf(job.name)), job.name];
      const first = jobs.get(cycle[0]!)!;
      throw new CiConfigError(
        first.loc,
        `jobs.${first.name}.needs`,
        `needs form a cycle: ${cycle.join(" → ")}`,
      );
    }
    state.set(job.name, "visiting");
    for (const need of needsOf(job)) {
      const target = jobs.get(need.job);
      if (target) visit(target, [...path, job.name]);
    }
    state.set(job.name, "done");
  };
  for (const job of pipeline.jobs) visit(job, []);
}

function lookupOf(
  vars: ReadonlyArray<[string, string] | CiVariable | ExecVariable>,
): (name: string) => string | undefined {
  const map = new Map<string, string>();
  for (const v of vars) {
    const [key, value, isRaw] = Array.isArray(v) ? [v[0], v[1], true] : [v.key, v.value, v.isRaw];
    map.set(key, isRaw ? value : expandVariables(value, (n) => map.get(n)));
  }
  return (name) => map.get(name);
}

/** `f`, computed once per argument (by identity). */
function memoized<A extends object, R>(f: (a: A) => R): (a: A) => R {
  const results = new WeakMap<A, R>();
  return (a) => {
    let r = results.get(a);
    if (r === undefined) results.set(a, r = f(a));
    return r;
  };
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `local-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}
