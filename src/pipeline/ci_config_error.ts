/** Where a value came from: a file of the project and a 1-based line. */
export interface SourceLocation {
  /** Path relative to the project root, e.g. `.gitlab-ci.yml` or `ci/build.yml`. */
  file: string;
  /** 1-based; 0 when unknown. */
  line: number;
}

/**
 * The pipeline definition is invalid. The message reads
 * `<file>:<line>: <key>: <reason>`, e.g.
 * `.gitlab-ci.yml:14: jobs.test.script: expected a string or an array of strings`.
 */
export class CiConfigError extends Error {
  override readonly name = "CiConfigError";
  constructor(
    readonly location: SourceLocation,
    readonly key: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`${formatLocation(location)}: ${key ? `${key}: ` : ""}${reason}`, options);
  }
}

/** Something exec ignores or treats differently from GitLab; the pipeline still runs. */
export interface CiWarning {
  location: SourceLocation;
  key: string;
  message: string;
}

export function formatLocation(location: SourceLocation): string {
  return location.line > 0 ? `${location.file}:${location.line}` : location.file;
}

/** `ci/build.yml:3: jobs.lint.foo: unknown keyword "foo", ignored` */
export function formatWarning(warning: CiWarning): string {
  const key = warning.key ? `${warning.key}: ` : "";
  return `${formatLocation(warning.location)}: ${key}${warning.message}`;
}
