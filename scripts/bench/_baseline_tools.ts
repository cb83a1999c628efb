import { basename, join } from "node:path";

/** The Debian package of each program a benchmark runs besides ours. */
const PACKAGES: Record<string, string> = {
  zip: "zip",
  unzip: "unzip",
  curl: "curl",
  "/usr/bin/time": "time",
  git: "git",
};

/**
 * Why a benchmark cannot run here: the programs of `tools` (its baseline's,
 * or what it sets up with) this machine lacks and the packages that have them; null when all are there. A
 * bare name is looked up on PATH, a path taken as it is, as the bench runs it.
 */
export async function missingToolsReason(tools: readonly string[]): Promise<string | null> {
  const missing: string[] = [];
  for (const tool of tools) {
    if (!(await isExecutable(tool))) missing.push(tool);
  }
  if (missing.length === 0) return null;
  const packages = missing.map((tool) => PACKAGES[tool] ?? basename(tool));
  return `${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not installed ` +
    `(apt-get install ${packages.join(" ")}; .ci/run installs ${
      missing.length === 1 ? "it" : "them"
    })`;
}

async function isExecutable(tool: string): Promise<boolean> {
  const candidates = tool.includes("/")
    ? [tool]
    : (Deno.env.get("PATH") ?? "").split(":").filter((dir) => dir !== "").map((dir) =>
      join(dir, tool)
    );
  for (const path of candidates) {
    try {
      const info = await Deno.stat(path);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return true;
    } catch {
      // Not here.
    }
  }
  return false;
}
