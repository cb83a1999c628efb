/**
 * Runs a command in the project directory, wherever that is (host, container,
 * SSH host). File selection uses it for `git ls-files`. Resolves with the
 * outcome even when the command fails; rejects only when it cannot be started.
 */
export interface CommandRunner {
  run(args: readonly string[]): Promise<CommandResult>;
}

export interface CommandResult {
  success: boolean;
  stdout: Uint8Array;
  stderr: string;
}
