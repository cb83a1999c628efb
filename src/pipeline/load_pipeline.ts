import { basename } from "../path/host_path.ts";
import type { CiWarning } from "./ci_config_error.ts";
import { type CiYamlParse, parseCiYamlLazily } from "./ci_yaml_parse.ts";
import type { ExecVariable } from "./exec_variable.ts";
import type { GitState } from "./git_state.ts";
import { resolveExtends } from "./extends_resolver.ts";
import { loadWithIncludes } from "./include_resolver.ts";
import type { Pipeline } from "./pipeline.ts";
import { readPipeline, readRules } from "./pipeline_reader.ts";
import { pipelineVariables } from "./predefined_variables.ts";
import {
  evaluateRules,
  type GlobMatch,
  hasFileRules,
  loadGlobMatch,
  NO_GLOB_MATCH,
  type RuleContext,
} from "./rule_evaluation.ts";
import type { ProjectFiles } from "./project_files.ts";
import { resolveReferences } from "./reference_resolver.ts";

/** The words include_resolver's warning about a skipped include carries. */
const SKIPPED_INCLUDE = "is not supported locally (it needs GitLab)";

/** What GitLab allows in `include:rules`. */
const INCLUDE_RULE_KEYS = ["if", "changes", "exists", "when"];

export interface LoadPipelineOptions {
  /** Project files, read through this seam (`LocalProjectFiles` on disk). */
  files: ProjectFiles;
  /** Path of the CI file in the project; default `.gitlab-ci.yml`. */
  ciFile?: string;
  /**
   * What `include` may look at: variables in `include:local` paths and
   * `include:rules`. Called at most once, only when an include needs it, so
   * that reading git can overlap with reading the files. Without it, include
   * rules are not evaluated (a warning says so) and paths are not expanded.
   */
  includeContext?: () => Promise<IncludeContext>;
  /**
   * Parses each file; default `parseCiYamlLazily`. `runner exec` puts its
   * `CiYamlParseCache` here.
   */
  parse?: CiYamlParse;
}

/** The pipeline's inputs that include paths and include rules see. */
export interface IncludeContext {
  git: GitState;
  /** Variables given by the user (variables file, `--variable`). */
  variables: ExecVariable[];
  /** `namespace/name`; default as in `planPipeline`. */
  projectPath?: string;
  pipelineSource?: string;
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
    readBytes: (path: string) => options.files.readBytes(path),
    listFiles: () => options.files.listFiles(),
  };
  let context: Promise<Omit<RuleContext, "matchGlobs">> | null = null;
  let globMatch: Promise<GlobMatch> | null = null;
  const ruleContext = () => {
    context ??= (async () => {
      const c = await options.includeContext!();
      const projectName = basename(projectDir) || "project";
      const predefined = pipelineVariables({
        git: c.git,
        projectDir,
        projectName,
        projectPath: c.projectPath ?? (c.git.remotePath || `local/${projectName}`),
        pipelineId: 1,
        pipelineSource: c.pipelineSource ?? "push",
        pipelineName: "",
        createdAt: new Date().toISOString(),
      });
      const values = new Map<string, string>(predefined);
      for (const v of c.variables) values.set(v.key, v.value);
      return {
        lookup: (name: string) => values.get(name),
        changedFiles: c.git.changedFiles,
        projectFiles: await options.files.listFiles(),
      };
    })();
    return context;
  };
  const parse = options.parse ?? parseCiYamlLazily;
  const merged = await loadWithIncludes(
    recording,
    ciFile,
    options.includeContext
      ? {
        warnings,
        parse,
        lookupVariables: async () => (await ruleContext()).lookup,
        evaluateIncludeRules: async (node, key) => {
          const rules = readRules(node, key, { allowedKeys: INCLUDE_RULE_KEYS, warnings });
          const matchGlobs = hasFileRules(rules)
            ? await (globMatch ??= loadGlobMatch())
            : NO_GLOB_MATCH;
          const outcome = evaluateRules(rules, { ...await ruleContext(), matchGlobs }, key);
          return outcome !== null && outcome.when !== "never";
        },
      }
      : { warnings, parse },
  );
  // Templates may come from includes exec skipped (see include_resolver's `skipped`).
  const isMissingAllowed = warnings.some((w) => w.message.includes(SKIPPED_INCLUDE));
  const unavailable = new Map<string, string>();
  const root = resolveReferences(resolveExtends(merged, { isMissingAllowed, unavailable }));
  if (unavailable.size > 0) {
    // One line for everything left out, so that --list still shows the rest.
    const list = [...unavailable].map(([job, base]) => `${job} (extends "${base}")`).join(", ");
    warnings.push({
      location: { file: ciFile, line: 0 },
      key: "extends",
      message: `not run, their templates come from includes exec skipped: ${list}`,
    });
  }
  const pipeline = readPipeline(root, { projectDir, files, warnings });
  return { ...pipeline, unavailableJobs: [...unavailable.keys()] };
}
