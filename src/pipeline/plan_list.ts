import { formatWarning } from "./ci_config_error.ts";
import type { Plan } from "./pipeline_plan.ts";

/**
 * The `runner exec --list` text: jobs in run order with stage, when and what
 * they wait for, then the jobs that will not run and why, then warnings.
 */
export function renderPlanList(plan: Plan): string {
  const lines: string[] = [];
  for (const note of plan.notes) lines.push(note);
  if (plan.isCreated) {
    const rows = plan.jobs.map((job, i) => {
      let when: string = job.when;
      if (job.allowFailure.isAllowed) when += ", may fail";
      if (job.retry.max > 0) when += `, retry ${job.retry.max}`;
      const needs = job.needs === null
        ? (job.waitsFor.length > 0 ? "(earlier stages)" : "-")
        : job.needs.length > 0
        ? job.needs.join(", ")
        : "(none)";
      return [String(i + 1), job.name, job.stage, when, needs];
    });
    lines.push(...table(["#", "JOB", "STAGE", "WHEN", "NEEDS"], rows));
    if (plan.jobs.length === 0) lines.push("No job to run.");
    for (const job of plan.jobs) {
      for (const note of job.notes) lines.push(`note: ${job.name}: ${note}`);
    }
  }
  if (plan.skipped.length > 0) {
    lines.push("", "Not run:");
    lines.push(
      ...table(["JOB", "STAGE", "REASON"], plan.skipped.map((s) => [s.name, s.stage, s.reason])),
    );
  }
  if (plan.warnings.length > 0) {
    lines.push("", "Warnings:");
    for (const w of plan.warnings) lines.push(`  ${formatWarning(w)}`);
  }
  return lines.join("\n") + "\n";
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), ...rows.map(line)];
}
