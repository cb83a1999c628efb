/**
 * Quoting for POSIX shells (bash and sh alike): every value becomes one
 * single-quoted word, so nothing inside it is expanded, globbed or split.
 *
 * We do not use bash's `$'…'` form as the official runner does: dash, the
 * usual `/bin/sh`, does not understand it, and single quotes keep every byte
 * (newlines, ESC, `$`, backslashes) as is in both shells.
 */

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One shell word whose value is exactly `value`. NUL cannot be represented. */
export function quoteShell(value: string): string {
  if (value.includes("\0")) {
    throw new RangeError(
      `Cannot quote a value containing a NUL byte: ${JSON.stringify(value.slice(0, 40))}`,
    );
  }
  if (value === "") return "''";
  if (SAFE_WORD.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Variable names the shell can `export`; other keys are skipped by the writer. */
export function isShellVariableName(key: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key);
}
