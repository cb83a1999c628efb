/**
 * The grants `deno compile` bakes into the runner binary (scripts/compile.ts)
 * and that every process of it therefore starts with. Global, because the
 * config directory, GitLab hosts and executor needs are only known at run
 * time; each process narrows them by running its work in a scoped Worker
 * (cli/scoped_worker.ts), which needs `--unstable-worker-options`. No ffi, no
 * remote imports. Tests start `deno run` with exactly these flags to run the
 * entry points as the compiled binary does.
 */
export const COMPILED_GRANT_FLAGS = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-run",
  "--allow-env",
  "--allow-sys",
  "--unstable-worker-options",
  "--no-prompt",
] as const;

/** Whether `execPath` (Deno.execPath()) is a compiled runner binary rather than `deno`. */
export function isCompiledBinary(execPath: string): boolean {
  const base = execPath.split(/[\\/]/).pop() ?? "";
  return !/^deno(\.exe)?$/i.test(base);
}
