import type { CiWarning } from "./ci_config_error.ts";
import { resolveExtends } from "./extends_resolver.ts";
import { loadWithIncludes } from "./include_resolver.ts";
import type { Pipeline } from "./pipeline.ts";
import { readPipeline } from "./pipeline_reader.ts";
import type { ProjectFiles } from "./project_files.ts";
import { resolveReferences } from "./reference_resolver.ts";

export interface LoadPipelineOptions {
  /** Project files, read through this seam (`LocalProjectFiles` on disk). */
  files: ProjectFiles;
  /** Path of the CI file in the project; default `.gitlab-ci.yml`. */
  ciFile?: string;
}

/**
 * Reads the project's CI file with its local includes, applies `extends` and
 * `!reference`, and validates every keyword. Throws `CiConfigError`
 * (`<file>:<line>: <key>: <reason>`); unknown keywords and unsupported
 * features end up in `Pipeline.warnings`.
 */
export async function loadPipeline(
  projectDir: string,
  options: LoadPipelineOptions,
): Promise<Pipeline> {
  const warnings: CiWarning[] = [];
  const ciFile = options.ciFile ?? ".gitlab-ci.yml";
  const files: string[] = [ciFile];
  const recording = {
    readText: async (path: string) => {
      if (!files.includes(path)) files.push(path);
      return await options.files.readText(path);
    },
    listFiles: () => options.files.listFiles(),
  };
  const merged = await loadWithIncludes(recording, ciFile, { warnings });
  const root = resolveReferences(resolveExtends(merged));
  return readPipeline(root, { projectDir, files, warnings });
}
