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
