/**
 * The one-job project the exec benchmarks run, as users have one for
 * `runner exec`: `<dir>/hello` with a .gitlab-ci.yml echoing hello, one
 * commit and an `origin` remote.
 */
import { join } from "node:path";

/** Makes `<dir>/hello` and returns its path. */
export async function helloProject(dir: string): Promise<string> {
  const project = join(dir, "hello");
  await Deno.mkdir(project, { recursive: true });
  await Deno.writeTextFile(
    join(project, ".gitlab-ci.yml"),
    "hello:\n  script:\n    - echo hello\n",
  );
  for (
    const args of [
      ["init", "-q"],
      ["add", ".gitlab-ci.yml"],
      [
        "-c",
        "user.name=Bench",
        "-c",
        "user.email=bench@example.com",
        "commit",
        "-q",
        "-m",
        "Hello",
      ],
      ["remote", "add", "origin", "https://gitlab.example.com/bench/hello.git"],
    ]
  ) {
    const out = await new Deno.Command("git", { args, cwd: project, stderr: "piped" }).output();
    if (!out.success) {
      throw new Error(`git ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
  }
  return project;
}

/**
 * The environment exec runs in for the exec benchmarks: the host's, with an
 * empty HOME (`<root>/home`, made here: no login profile is measured) and
 * exec's state under `<root>/cache`, the Deno cache kept warm.
 */
export async function execBenchEnv(root: string): Promise<Record<string, string>> {
  await Deno.mkdir(join(root, "home"), { recursive: true });
  const hostEnv = Deno.env.toObject();
  return {
    ...hostEnv,
    "HOME": join(root, "home"),
    "XDG_CACHE_HOME": join(root, "cache"),
    "DENO_DIR": hostEnv["DENO_DIR"] ?? join(hostEnv["HOME"] ?? "/root", ".cache", "deno"),
    "DENO_NO_UPDATE_CHECK": "1",
  };
}
