/**
 * Quoting for POSIX shells (bash and sh alike): every value becomes one
 * single-quoted word, so nothing inside it is expanded, globbed or split.
 *
 * We do not use bash's `$'…'` form as the official runner does: dash, the
 * usual `/bin/sh`, does not understand it, and single quotes keep every byte
 * (newlines, ESC, `$`, backslashes) as is in both shells.
 */

import type { JobSpec } from "../job/job_spec.ts";

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * One shell word whose value is exactly `value`. NUL cannot be represented;
 * the error does not show the value, which may be a secret (escaped, the
 * log's masking would not recognise it).
 */
export function quoteShell(value: string): string {
  if (value.includes("\0")) {
    throw new RangeError(`Cannot quote a value containing a NUL byte (${value.length} characters)`);
  }
  if (value === "") return "''";
  if (SAFE_WORD.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Variable names the shell can `export`; other keys are skipped by the writer. */
export function isShellVariableName(key: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key);
}

/**
 * The first job variable the scripts export, git_info field or script line
 * that no shell can hold (it contains a NUL byte), named by its payload
 * field; null when there is none. Checked before the job starts, so the job
 * fails naming it.
 */
export function unquotableField(
  job: Pick<JobSpec, "variables" | "steps" | "hooks" | "gitInfo">,
): string | null {
  const variable = job.variables.find((v) => isShellVariableName(v.key) && v.value.includes("\0"));
  if (variable) return `the value of variable "${variable.key}"`;
  // What get_sources writes into its script.
  const git = job.gitInfo;
  const gitFields = [
    ["repo_url", git.repoUrl],
    ["repo_object_format", git.repoObjectFormat],
    ["ref", git.ref],
    ["sha", git.sha],
    ...git.refspecs.map((refspec, i) => [`refspecs[${i}]`, refspec] as const),
  ] as const;
  for (const [field, value] of gitFields) {
    if (value.includes("\0")) return `git_info.${field}`;
  }
  for (const [field, scripts] of [["steps", job.steps], ["hooks", job.hooks]] as const) {
    for (const [i, { name, script }] of scripts.entries()) {
      const line = script.findIndex((l) => l.includes("\0"));
      if (line !== -1) return `line ${line + 1} of ${field}[${i}] ("${name}")`;
    }
  }
  return null;
}

/** Keys of job variables the scripts do not export (not shell names), each once. */
export function unexportedVariables(job: Pick<JobSpec, "variables">): string[] {
  return [...new Set(job.variables.map((v) => v.key).filter((k) => !isShellVariableName(k)))];
}
