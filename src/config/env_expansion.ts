/**
 * `$VAR` / `${VAR}` expansion as Go's os.ExpandEnv does it for [[runners]] url and
 * token. Unset variables expand to "". A `$` not followed by a name stays as is.
 */
export function expandEnv(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(
    /\$\{([^}]*)\}|\$([A-Za-z0-9_]+)/g,
    (_m, braced: string | undefined, bare: string | undefined) => env[braced ?? bare ?? ""] ?? "",
  );
}

/** True when `text` references a variable that expandEnv would replace. */
export function hasEnvReference(text: string): boolean {
  return /\$\{[^}]*\}|\$[A-Za-z0-9_]/.test(text);
}
