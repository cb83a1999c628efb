/**
 * Docker credential helpers (`credsStore`, `credHelpers` in a docker config):
 * the `docker-credential-<name>` programs of the docker credential protocol,
 * run as the official runner runs them. `get` reads a server URL on stdin
 * and answers `{"ServerURL","Username","Secret"}`; `list` answers
 * `{"<server URL>": "<username>"}`.
 *
 * The only module of the docker executor that spawns processes; the executor
 * process is granted `--allow-run` for exactly the helpers the configs name
 * (poller/executor_permissions.ts).
 */

/** What registry_auth needs from the helper programs. */
export interface CredentialHelper {
  /** Rejects with the helper's own message when it fails or is missing. */
  get(helper: string, serverUrl: string): Promise<{ username: string; secret: string }>;
  /** Server URLs the helper holds credentials for. */
  list(helper: string): Promise<string[]>;
}

/** A helper name is a program suffix, never a path (the official runner refuses traversal). */
export function isValidHelperName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name);
}

/** Helper names a docker config JSON refers to (`credsStore`, `credHelpers` values); pure. */
export function credentialHelperNames(configJson: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(configJson);
  } catch {
    return [];
  }
  if (typeof doc !== "object" || doc === null) return [];
  const names: string[] = [];
  const store = (doc as Record<string, unknown>)["credsStore"];
  if (typeof store === "string" && store !== "") names.push(store);
  const helpers = (doc as Record<string, unknown>)["credHelpers"];
  if (typeof helpers === "object" && helpers !== null) {
    for (const h of Object.values(helpers)) if (typeof h === "string" && h !== "") names.push(h);
  }
  return [...new Set(names.filter(isValidHelperName))];
}

/** Runs `docker-credential-<name>` from PATH. */
export class ProcessCredentialHelper implements CredentialHelper {
  readonly #searchPath: string | undefined;

  /** `searchPath`: the PATH helpers are looked up in (default: the process's). */
  constructor(options: { searchPath?: string } = {}) {
    this.#searchPath = options.searchPath;
  }

  async #run(helper: string, action: "get" | "list", input: string): Promise<string> {
    if (!isValidHelperName(helper)) {
      throw new TypeError(`Credential helper name "${helper}" is not a plain program name`);
    }
    const program = `docker-credential-${helper}`;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(program, {
        args: [action],
        ...(this.#searchPath === undefined ? {} : { env: { PATH: this.#searchPath } }),
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (err) {
      throw new Error(`Cannot run "${program}": ${(err as Error).message}`, { cause: err });
    }
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout).trim();
    if (out.code !== 0) {
      const why = stdout || new TextDecoder().decode(out.stderr).trim();
      throw new Error(`"${program} ${action}" exited with code ${out.code}: ${why}`);
    }
    return stdout;
  }

  async get(helper: string, serverUrl: string): Promise<{ username: string; secret: string }> {
    const text = await this.#run(helper, "get", serverUrl);
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      throw new Error(`"docker-credential-${helper} get" did not answer JSON`);
    }
    const a = answer as { Username?: unknown; Secret?: unknown };
    return {
      username: typeof a.Username === "string" ? a.Username : "",
      secret: typeof a.Secret === "string" ? a.Secret : "",
    };
  }

  async list(helper: string): Promise<string[]> {
    const text = await this.#run(helper, "list", "");
    try {
      const parsed = JSON.parse(text || "{}");
      return typeof parsed === "object" && parsed !== null ? Object.keys(parsed) : [];
    } catch {
      throw new Error(`"docker-credential-${helper} list" did not answer JSON`);
    }
  }
}
