/** A variable given to exec from outside the YAML: `--variable`, or the variables file. */
export interface ExecVariable {
  key: string;
  value: string;
  /** Replaced by `[MASKED]` in the job log. */
  isMasked: boolean;
  /** The job sees a path to a file holding the value. */
  isFile: boolean;
  /** `$VAR` in the value is not expanded. */
  isRaw: boolean;
  /**
   * A pipeline variable (`--variable`, or a trigger job's variable in its
   * child pipeline), which a child pipeline gets only with
   * `forward:pipeline_variables`; absent for the variables file, which
   * stands for the project's settings that every pipeline gets.
   */
  isPipelineVariable?: true;
}

/**
 * Parses `KEY=VALUE` from the command line. The value may be empty and may
 * contain `=`; the key must be a variable name.
 */
export function parseVariableArgument(
  text: string,
  options: { isMasked?: boolean } = {},
): ExecVariable {
  const eq = text.indexOf("=");
  const key = eq < 0 ? text : text.slice(0, eq);
  if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
    throw new TypeError(
      `Invalid variable "${text}": expected KEY=VALUE with a name of letters, digits and _`,
    );
  }
  return {
    key,
    value: text.slice(eq + 1),
    isMasked: options.isMasked ?? false,
    isFile: false,
    isRaw: false,
    isPipelineVariable: true,
  };
}
