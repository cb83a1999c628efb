/**
 * The job payload in GitLab's wire format, for the file the custom executor
 * names in `JOB_RESPONSE_FILE`. The official runner re-encodes its parsed job
 * there (every field it models, zero values included), so drivers read keys
 * such as `.id`, `.job_info.project_id` or `.variables[]`. We rebuild the same
 * shape from the parsed JobSpec; fields our JobSpec does not model (`inputs`,
 * `secrets`, `runner_info.uuid`, `policy_options`, …) are absent, and lists are
 * `[]` where Go would print `null` for an absent list. Pure: no I/O.
 */
import type { JobImage, JobSpec, JobVariable } from "../../job/job_spec.ts";

export function jobResponseJson(job: JobSpec): Record<string, unknown> {
  return {
    "id": job.id,
    "token": job.token,
    "allow_git_fetch": job.allowGitFetch,
    "job_info": {
      "name": job.jobInfo.name,
      "stage": job.jobInfo.stage,
      "pipeline_id": job.jobInfo.pipelineId,
      "project_id": job.jobInfo.projectId,
      "project_name": job.jobInfo.projectName,
      "project_full_path": job.jobInfo.projectFullPath,
      "namespace_id": job.jobInfo.namespaceId,
      "user_id": job.jobInfo.userId,
      "time_in_queue_seconds": job.jobInfo.timeInQueueSeconds,
      "project_jobs_running_on_instance_runners_count":
        job.jobInfo.projectJobsRunningOnInstanceRunnersCount,
      "queue_size": job.jobInfo.queueSize,
      "queue_depth": job.jobInfo.queueDepth,
    },
    "git_info": {
      "repo_url": job.gitInfo.repoUrl,
      "repo_object_format": job.gitInfo.repoObjectFormat,
      "ref": job.gitInfo.ref,
      "sha": job.gitInfo.sha,
      "before_sha": job.gitInfo.beforeSha,
      "ref_type": job.gitInfo.refType,
      "refspecs": job.gitInfo.refspecs,
      "depth": job.gitInfo.depth,
      "protected": job.gitInfo.protected,
    },
    "runner_info": { "timeout": job.timeout },
    "variables": job.variables.map(variable),
    "steps": job.steps.map((s) => ({
      "name": s.name,
      "script": s.script,
      "timeout": s.timeout,
      "when": s.when,
      "allow_failure": s.allowFailure,
    })),
    "image": image(job.image),
    "services": job.services.map(image),
    "artifacts": job.artifacts.map((a) => ({
      "name": a.name,
      "untracked": a.untracked,
      "paths": a.paths,
      "exclude": a.exclude,
      "when": a.when,
      "artifact_type": a.artifactType,
      "artifact_format": a.artifactFormat,
      "expire_in": a.expireIn,
    })),
    "cache": job.cache.map((c) => ({
      "key": c.key,
      "untracked": c.untracked,
      "policy": c.policy,
      "paths": c.paths,
      "when": c.when,
      "fallback_keys": c.fallbackKeys,
    })),
    "credentials": job.credentials.map((c) => ({
      "type": c.type,
      "url": c.url,
      "username": c.username,
      "password": c.password,
    })),
    "dependencies": job.dependencies.map((d) => ({
      "id": d.id,
      "token": d.token,
      "name": d.name,
      "artifacts_file": { "filename": d.artifactsFile.filename, "size": d.artifactsFile.size },
    })),
    "features": {
      "trace_sections": job.features.traceSections,
      "token_mask_prefixes": job.features.tokenMaskPrefixes,
      "failure_reasons": job.features.failureReasons,
    },
    ...(job.hooks.length > 0
      ? { "hooks": job.hooks.map((h) => ({ "name": h.name, "script": h.script })) }
      : {}),
  };
}

function variable(v: JobVariable): Record<string, unknown> {
  return {
    "key": v.key,
    "value": v.value,
    "public": v.public,
    "file": v.file,
    "masked": v.masked,
    "raw": v.raw,
  };
}

/** Go omits the empty optional image fields (`omitempty`) but always writes `executor_opts`. */
function image(i: JobImage): Record<string, unknown> {
  const out: Record<string, unknown> = { "name": i.name };
  if (i.alias !== "") out["alias"] = i.alias;
  if (i.command.length > 0) out["command"] = i.command;
  if (i.entrypoint.length > 0) out["entrypoint"] = i.entrypoint;
  if (i.ports.length > 0) {
    out["ports"] = i.ports.map((p) => {
      const port: Record<string, unknown> = {};
      if (p.number !== 0) port["number"] = p.number;
      if (p.protocol !== "") port["protocol"] = p.protocol;
      if (p.name !== "") port["name"] = p.name;
      return port;
    });
  }
  if (i.variables.length > 0) out["variables"] = i.variables.map(variable);
  if (i.pullPolicy.length > 0) out["pull_policy"] = i.pullPolicy;
  out["executor_opts"] = {
    "docker": { "platform": i.dockerPlatform, "user": i.dockerUser },
    "kubernetes": { "user": "" },
  };
  return out;
}

/**
 * `CI_JOB_SERVICES` as the official custom executor sets it: "" without
 * services, else a JSON array of {name, alias, entrypoint, command,
 * variables?} with `null` for absent lists. Service variables are passed as
 * the payload has them (the official runner expands them against the job's).
 */
export function jobServicesJson(job: Pick<JobSpec, "services">): string {
  if (job.services.length === 0) return "";
  return JSON.stringify(job.services.map((s) => {
    const entry: Record<string, unknown> = {
      "name": s.name,
      // The first of possibly several aliases ("a b" or "a,b").
      "alias": s.alias.split(/[\s,]+/).find((a) => a !== "") ?? "",
      "entrypoint": s.entrypoint.length > 0 ? s.entrypoint : null,
      "command": s.command.length > 0 ? s.command : null,
    };
    if (s.variables.length > 0) {
      entry["variables"] = Object.fromEntries(s.variables.map((v) => [v.key, v.value]));
    }
    return entry;
  }));
}
