/**
 * Runs a planned pipeline: starts each job once the jobs it waits for have
 * finished, decides from their outcome and the job's `when` whether it runs
 * at all, runs up to `concurrent` jobs at once, retries per `retry:`, applies
 * `allow_failure`, and hands each job the artifacts and `dotenv` variables of
 * its upstream jobs. How one attempt runs is behind `JobAttemptRunner`.
 */
import type { JobSpec } from "../job/job_spec.ts";
import type { JobStatus } from "./exec_output.ts";
import { withDotenvVariables } from "../pipeline/job_spec_builder.ts";
import { extractCoverage } from "../pipeline/coverage.ts";
import type { Plan, PlannedJob } from "../pipeline/pipeline_plan.ts";

export interface AttemptResult {
  state: "success" | "failed";
  /** GitLab's failure reason (`script_failure`, `job_execution_timeout`, …). */
  failureReason?: string;
  exitCode?: number;
  /** From the log and the job's `coverage:` regex, as GitLab shows it on the job page. */
  coverage?: string;
}

export interface AttemptOptions {
  /** Workspace slot, 0 … concurrent-1; no two running attempts share one. */
  slot: number;
  /** Masked job log bytes, as they come. */
  onLog(chunk: Uint8Array): void;
  /** Aborting stops the attempt (cancel, then kill); it then resolves as failed. */
  signal: AbortSignal;
}

/**
 * Runs one attempt of one job to its end. `run` never rejects: whatever goes
 * wrong becomes a failed result with a reason, and the log says why.
 */
export interface JobAttemptRunner {
  run(job: JobSpec, options: AttemptOptions): Promise<AttemptResult>;
}

/** What upstream jobs left behind; the local artifacts server keeps it. */
export interface ArtifactLedger {
  /** The `archive` artifact job `jobId` uploaded (`artifacts_file`), or null. */
  archiveOf(jobId: number): { filename: string; size: number } | null;
  /** The variables of job `jobId`'s `reports: dotenv`, in file order; [] when none. */
  dotenvOf(jobId: number): Promise<Array<{ key: string; value: string }>>;
}

export interface JobOutcome {
  name: string;
  stage: string;
  status: JobStatus;
  /** Seconds over every attempt; null when the job did not run. */
  durationSeconds: number | null;
  /** Why it was skipped, or how it failed. */
  detail: string;
  attempts: number;
  failureReason?: string;
  exitCode?: number;
}

export interface PipelineObserver {
  jobStarted?(job: PlannedJob, attempt: number, maxAttempts: number): void;
  jobLog?(job: PlannedJob, chunk: Uint8Array): void;
  jobFinished?(job: PlannedJob, outcome: JobOutcome): void;
}

export interface RunPipelineOptions {
  runner: JobAttemptRunner;
  artifacts: ArtifactLedger;
  /** Jobs running at once, 1 or more. */
  concurrent: number;
  /** Ctrl-C: running jobs are stopped, the others end as canceled. */
  signal: AbortSignal;
  observer?: PipelineObserver;
  /** Milliseconds; default `performance.now`. */
  now?: () => number;
}

export interface PipelineResult {
  /** In plan order. */
  outcomes: JobOutcome[];
  /** No job failed (allowed failures aside) and nothing was canceled. */
  isSuccess: boolean;
  isCanceled: boolean;
}

interface Finished {
  outcome: JobOutcome;
  /** Counts as a failure for downstream jobs: failed, canceled, or skipped because of one. */
  isFailure: boolean;
}

/** Resolves once every planned job finished, was skipped or was canceled. */
export async function runPipeline(
  plan: Plan,
  options: RunPipelineOptions,
): Promise<PipelineResult> {
  if (!Number.isInteger(options.concurrent) || options.concurrent < 1) {
    throw new RangeError(`Concurrent jobs must be 1 or more: got ${options.concurrent}`);
  }
  const now = options.now ?? (() => performance.now());
  const byName = new Map(plan.jobs.map((j) => [j.name, j]));
  const finished = new Map<string, Finished>();
  const running = new Map<string, Promise<void>>();
  const freeSlots = Array.from({ length: options.concurrent }, (_, i) => i);

  const finish = (job: PlannedJob, result: Finished) => {
    finished.set(job.name, result);
    options.observer?.jobFinished?.(job, result.outcome);
  };
  const skip = (job: PlannedJob, detail: string, isFailure: boolean) =>
    finish(job, {
      outcome: {
        name: job.name,
        stage: job.stage,
        status: "skipped",
        durationSeconds: null,
        detail,
        attempts: 0,
      },
      isFailure,
    });

  while (finished.size < plan.jobs.length) {
    const before = finished.size;
    let started = false;
    for (const job of plan.jobs) {
      if (finished.has(job.name) || running.has(job.name)) continue;
      if (!job.waitsFor.every((n) => finished.has(n) || !byName.has(n))) continue;
      if (options.signal.aborted) {
        finish(job, {
          outcome: {
            name: job.name,
            stage: job.stage,
            status: "canceled",
            durationSeconds: null,
            detail: "",
            attempts: 0,
          },
          isFailure: true,
        });
        continue;
      }
      const failedUpstream = job.waitsFor.find((n) => finished.get(n)?.isFailure);
      const isRun = job.when === "always" ||
        (job.when === "on_failure" ? failedUpstream !== undefined : failedUpstream === undefined);
      if (!isRun) {
        if (job.when === "on_failure") skip(job, "no earlier job failed", false);
        else skip(job, `"${failedUpstream}" failed`, true);
        continue;
      }
      if (job.failure !== undefined) {
        // Fails without running (a trigger job whose child pipeline cannot be created).
        const isAllowed = job.allowFailure.isAllowed;
        finish(job, {
          outcome: {
            name: job.name,
            stage: job.stage,
            status: isAllowed ? "failed (allowed)" : "failed",
            durationSeconds: null,
            detail: job.failure,
            attempts: 0,
          },
          isFailure: !isAllowed,
        });
        continue;
      }
      const slot = freeSlots.shift();
      if (slot === undefined) break;
      started = true;
      const task = runJob(job, slot, options, now).catch((error): Finished => ({
        outcome: {
          name: job.name,
          stage: job.stage,
          status: "failed",
          durationSeconds: null,
          detail: `runner system failure: ${(error as Error).message}`,
          attempts: 0,
        },
        isFailure: true,
      })).then((result) => {
        freeSlots.push(slot);
        freeSlots.sort((a, b) => a - b);
        running.delete(job.name);
        finish(job, result);
      });
      running.set(job.name, task);
    }
    if (running.size > 0) {
      await Promise.race(running.values());
    } else if (!started && finished.size === before) {
      // The plan guarantees waitsFor only names earlier jobs; this guards it.
      const stuck = plan.jobs.filter((j) => !finished.has(j.name)).map((j) => j.name);
      throw new Error(`Cannot schedule jobs: ${stuck.join(", ")}`);
    }
  }

  const outcomes = plan.jobs.map((j) => finished.get(j.name)!.outcome);
  const isCanceled = outcomes.some((o) => o.status === "canceled");
  return {
    outcomes,
    isCanceled,
    isSuccess: !isCanceled && !outcomes.some((o) => o.status === "failed"),
  };
}

async function runJob(
  job: PlannedJob,
  slot: number,
  options: RunPipelineOptions,
  now: () => number,
): Promise<Finished> {
  const spec = await jobSpecWithUpstream(job, options.artifacts);
  const maxAttempts = 1 + job.retry.max;
  const started = now();
  let result: AttemptResult = { state: "failed", failureReason: "unknown_failure" };
  let attempt = 0;
  let log = "";
  while (attempt < maxAttempts) {
    attempt++;
    options.observer?.jobStarted?.(job, attempt, maxAttempts);
    const decoder = new TextDecoder();
    log = "";
    result = await options.runner.run(spec, {
      slot,
      signal: options.signal,
      onLog: (chunk) => {
        // Only a job with a coverage regex keeps its (masked) log.
        if (job.coverageRegex !== "") log += decoder.decode(chunk, { stream: true });
        options.observer?.jobLog?.(job, chunk);
      },
    });
    if (result.state === "success" || options.signal.aborted || !isRetried(job, result)) break;
  }
  const durationSeconds = (now() - started) / 1000;
  const coverage = extractCoverage(log, job.coverageRegex);
  const base = {
    name: job.name,
    stage: job.stage,
    durationSeconds,
    attempts: attempt,
    ...(coverage !== null ? { coverage } : {}),
  };
  if (result.state === "success") {
    return { outcome: { ...base, status: "passed", detail: "" }, isFailure: false };
  }
  const failure = {
    ...(result.failureReason !== undefined ? { failureReason: result.failureReason } : {}),
    ...(result.exitCode !== undefined ? { exitCode: result.exitCode } : {}),
  };
  if (options.signal.aborted || result.failureReason === "job_canceled") {
    return { outcome: { ...base, ...failure, status: "canceled", detail: "" }, isFailure: true };
  }
  const detail = describeFailure(result);
  const allowed = job.allowFailure.isAllowed &&
    (job.allowFailure.exitCodes.length === 0 ||
      (result.exitCode !== undefined && job.allowFailure.exitCodes.includes(result.exitCode)));
  return {
    outcome: { ...base, ...failure, status: allowed ? "failed (allowed)" : "failed", detail },
    isFailure: !allowed,
  };
}

/**
 * GitLab retries when the failure type is listed (or `always`) and, with
 * `retry:exit_codes`, the exit code is one of them.
 */
function isRetried(job: PlannedJob, result: AttemptResult): boolean {
  const { when, exitCodes } = job.retry;
  const isReasonListed = when.includes("always") ||
    (result.failureReason !== undefined && when.includes(result.failureReason));
  const isCodeListed = exitCodes.length === 0 ||
    (result.exitCode !== undefined && exitCodes.includes(result.exitCode));
  return isReasonListed && isCodeListed;
}

function describeFailure(result: AttemptResult): string {
  const reason = (result.failureReason ?? "unknown_failure").replaceAll("_", " ");
  return result.exitCode !== undefined ? `${reason}, exit code ${result.exitCode}` : reason;
}

/**
 * The payload with what upstream jobs produced: `artifacts_file` of each
 * dependency that uploaded an archive (the runner downloads only those, as
 * from GitLab), and their `dotenv` variables. Each dependency's `token` is
 * the running job's, as GitLab sends it.
 */
async function jobSpecWithUpstream(job: PlannedJob, artifacts: ArtifactLedger): Promise<JobSpec> {
  const dotenv: Array<{ key: string; value: string }> = [];
  for (const dep of job.jobSpec.dependencies) dotenv.push(...await artifacts.dotenvOf(dep.id));
  const spec = dotenv.length > 0 ? withDotenvVariables(job, dotenv) : job.jobSpec;
  return {
    ...spec,
    dependencies: spec.dependencies.map((d) => ({
      ...d,
      token: spec.token,
      artifactsFile: artifacts.archiveOf(d.id) ?? { filename: "", size: 0 },
    })),
  };
}
