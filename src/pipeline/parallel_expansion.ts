import type { JobConfig } from "./pipeline.ts";

/** One runnable instance of a job: the job itself, `test 1/3`, or `test: [ruby, 3.3]`. */
export interface JobInstance {
  name: string;
  /** 1-based; 0 when the job is not parallel. */
  nodeIndex: number;
  nodeTotal: number;
  /** `parallel: matrix` variables of this instance, in matrix order. */
  matrixVariables: Array<[string, string]>;
}

/**
 * GitLab's expansion of `parallel: N` into `name i/N` and of
 * `parallel: matrix` into one job per combination, named
 * `name: [value1, value2]` with the values in the order the matrix lists them.
 */
export function expandParallel(job: JobConfig): JobInstance[] {
  const p = job.parallel;
  if (!p) return [{ name: job.name, nodeIndex: 0, nodeTotal: 0, matrixVariables: [] }];
  if (p.kind === "count") {
    return Array.from({ length: p.count }, (_, i) => ({
      name: `${job.name} ${i + 1}/${p.count}`,
      nodeIndex: i + 1,
      nodeTotal: p.count,
      matrixVariables: [],
    }));
  }
  const combos: Array<Array<[string, string]>> = [];
  for (const row of p.matrix) {
    let partial: Array<Array<[string, string]>> = [[]];
    for (const [key, values] of row) {
      partial = partial.flatMap((prefix) =>
        values.map((v): Array<[string, string]> => [...prefix, [key, v]])
      );
    }
    combos.push(...partial);
  }
  return combos.map((vars, i) => ({
    name: `${job.name}: [${vars.map(([, v]) => v).join(", ")}]`,
    nodeIndex: i + 1,
    nodeTotal: combos.length,
    matrixVariables: vars,
  }));
}
