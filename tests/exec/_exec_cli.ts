/**
 * Helpers for `runner exec` end-to-end tests: a sample git project in a temp
 * directory, and the CLI run from source as a real process.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const MAIN = join(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "..",
  "src",
  "cli",
  "main.ts",
);

export interface ExecRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function git(cwd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`git ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/**
 * A git project with `committed` committed and `uncommitted` written on top
 * (not committed), plus a private HOME and cache for exec's state, so that
 * the host's shell profile and earlier runs play no part.
 */
export class SampleProject implements AsyncDisposable {
  private constructor(readonly root: string, readonly dir: string) {}

  static async create(
    committed: Record<string, string>,
    uncommitted: Record<string, string> = {},
  ): Promise<SampleProject> {
    const root = await Deno.makeTempDir({ prefix: "exec-e2e-" });
    const dir = join(root, "demo-app");
    await Deno.mkdir(join(root, "home"));
    const project = new SampleProject(root, dir);
    await project.write(committed);
    await git(dir, "init", "-q", "-b", "main");
    await git(dir, "-c", "user.name=Ada", "-c", "user.email=ada@example.com", "add", ".");
    await git(
      dir,
      "-c",
      "user.name=Ada",
      "-c",
      "user.email=ada@example.com",
      "commit",
      "-q",
      "-m",
      "Initial commit",
    );
    await project.write(uncommitted);
    return project;
  }

  async write(files: Record<string, string>): Promise<void> {
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(dirname(join(this.dir, path)), { recursive: true });
      await Deno.writeTextFile(join(this.dir, path), text);
    }
  }

  /** `git status --porcelain` of the working tree. */
  status(): Promise<string> {
    return git(this.dir, "status", "--porcelain", "--untracked-files=all");
  }

  env(): Record<string, string> {
    const env = Deno.env.toObject();
    return {
      ...env,
      "HOME": join(this.root, "home"),
      "XDG_CACHE_HOME": join(this.root, "cache"),
      // Keep using the module cache of the user who runs the tests.
      "DENO_DIR": env["DENO_DIR"] ?? join(env["HOME"] ?? "/root", ".cache", "deno"),
      "DENO_NO_UPDATE_CHECK": "1",
    };
  }

  /** Starts `runner exec <args>` in the project, with `extraEnv` added to its environment. */
  spawn(args: string[], extraEnv: Record<string, string> = {}): Deno.ChildProcess {
    return new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--quiet", MAIN, "exec", ...args],
      cwd: this.dir,
      env: { ...this.env(), ...extraEnv },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  }

  exec(...args: string[]): Promise<ExecRun> {
    return this.execWithEnv({}, ...args);
  }

  /** `runner exec <args>` with `extraEnv` added to its environment. */
  async execWithEnv(extraEnv: Record<string, string>, ...args: string[]): Promise<ExecRun> {
    const out = await this.spawn(args, extraEnv).output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}

/** The summary row of `job`, split into cells: [job, stage, status, duration, coverage?]. */
export function summaryRow(stdout: string, job: string): string[] | null {
  const lines = stdout.split("\n");
  const header = lines.findLastIndex((l) =>
    /^JOB\s+STAGE\s+STATUS\s+DURATION(\s+COVERAGE)?$/.test(l)
  );
  if (header < 0) return null;
  for (const line of lines.slice(header + 1)) {
    if (line.trim() === "") break;
    const cells = line.split(/\s{2,}/);
    if (cells[0] === job) return cells;
  }
  return null;
}
