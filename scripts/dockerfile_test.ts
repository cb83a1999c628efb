/**
 * The image cannot be built here (no registry), so these tests hold the
 * Dockerfile to what docs/getting-started.md promises: distroless, non-root,
 * `runner run` with the config at the official container path, and a build
 * context that carries everything `deno task compile` needs.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import picomatch from "picomatch";
import { TARGETS } from "./compile.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

interface Instruction {
  keyword: string;
  args: string;
}

/** Instructions per stage; comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): { args: Instruction[]; stages: Instruction[][] } {
  const logical: string[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.trimEnd();
    if (line.endsWith("\\")) {
      pending += line.slice(0, -1) + " ";
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    if (full) logical.push(full);
  }
  const args: Instruction[] = [];
  const stages: Instruction[][] = [];
  for (const line of logical) {
    const [, keyword = "", rest = ""] = line.match(/^(\S+)\s*(.*)$/) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args: rest };
    if (instruction.keyword === "FROM") stages.push([instruction]);
    else if (stages.length === 0) args.push(instruction);
    else stages.at(-1)!.push(instruction);
  }
  return { args, stages };
}

function last(stage: Instruction[], keyword: string): Instruction | undefined {
  return stage.findLast((i) => i.keyword === keyword);
}

function execForm(instruction: Instruction | undefined): string[] {
  assert.ok(instruction, "instruction missing");
  const value = JSON.parse(instruction.args);
  assert.ok(Array.isArray(value), `${instruction.keyword} must use the JSON (exec) form`);
  return value as string[];
}

const dockerfile = parseDockerfile(await Deno.readTextFile(join(ROOT, "Dockerfile")));
const final = dockerfile.stages.at(-1)!;
const build = dockerfile.stages[0]!;

Deno.test("Dockerfile final image is distroless and runs as nonroot", () => {
  assert.ok(dockerfile.stages.length >= 2, "a build stage, then the final image");
  assert.match(final[0]!.args, /^gcr\.io\/distroless\/cc-debian\d+:nonroot$/);
  const user = last(final, "USER");
  assert.ok(user, "the final stage sets USER");
  assert.match(user.args, /^(nonroot|65532)(:(nonroot|65532))?$/);
});

Deno.test("Dockerfile starts `runner run` with the config at /etc/gitlab-runner", () => {
  const command = [...execForm(last(final, "ENTRYPOINT")), ...execForm(last(final, "CMD"))];
  assert.deepEqual(command.slice(0, 2), ["/usr/bin/runner", "run"]);
  assert.equal(command[command.indexOf("--config") + 1], "/etc/gitlab-runner/config.toml");
  assert.match(
    last(final, "ENV")?.args ?? "",
    /\bCONFIG_FILE=\/etc\/gitlab-runner\/config\.toml\b/,
  );
  assert.ok(
    (last(final, "VOLUME")?.args ?? "").includes("/etc/gitlab-runner"),
    "the config folder is a volume",
  );
});

Deno.test("Dockerfile builds with a pinned Deno 2 image and deno task compile", () => {
  const version = dockerfile.args.find((a) => a.args.startsWith("DENO_VERSION="));
  assert.match(version?.args ?? "", /^DENO_VERSION=2\.\d+\.\d+$/, "Deno pinned to x.y.z");
  assert.match(build[0]!.args, /denoland\/deno:[a-z-]*\$\{DENO_VERSION\} AS build$/);
  const run = build.filter((i) => i.keyword === "RUN").map((i) => i.args).join("\n");
  assert.match(run, /deno task compile --target "\$target"/);
  // The binary copied out must be one compile.ts writes, for both image architectures.
  assert.match(run, /\/out\/runner-linux-\$\{TARGETARCH:-amd64\}/);
  const names = Object.values(TARGETS) as string[];
  for (const arch of ["amd64", "arm64"]) assert.ok(names.includes(`runner-linux-${arch}`));
  for (const [arch, target] of [["amd64", "x86_64"], ["arm64", "aarch64"]]) {
    assert.match(run, new RegExp(`${arch}\\) target=${target}-unknown-linux-gnu ;;`));
  }
});

Deno.test("Dockerfile build context holds every file the build stage copies", async () => {
  const ignore = (await Deno.readTextFile(join(ROOT, ".dockerignore")))
    .split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  // .dockerignore: the last pattern that matches a path or one of its parents decides.
  const isIgnored = (path: string): boolean => {
    const parts = path.replace(/\/$/, "").split("/");
    let ignored = false;
    for (const raw of ignore) {
      const negated = raw.startsWith("!");
      const pattern = (negated ? raw.slice(1) : raw).replace(/\/$/, "");
      const matches = parts.some((_, i) =>
        picomatch.isMatch(parts.slice(0, i + 1).join("/"), pattern, { dot: true })
      );
      if (matches) ignored = !negated;
    }
    return ignored;
  };
  const copies = build.filter((i) => i.keyword === "COPY" && !i.args.includes("--from"));
  assert.ok(copies.length > 0);
  for (const copy of copies) {
    const sources = copy.args.split(/\s+/).slice(0, -1);
    for (const source of sources) {
      await Deno.stat(join(ROOT, source)); // throws NotFound, naming the path
      assert.ok(!isIgnored(source), `.dockerignore leaves out "${source}", which the build copies`);
    }
  }
  for (const source of ["src/cli/main.ts", "src/cli/build_info.ts", "deno.lock"]) {
    assert.ok(!isIgnored(source), `.dockerignore leaves out "${source}"`);
  }
  for (const excluded of [".git", "dist", "node_modules", "src/cli/version_test.ts"]) {
    assert.ok(isIgnored(excluded), `"${excluded}" should stay out of the build context`);
  }
});

Deno.test("Dockerfile build stage copies every local module scripts/compile.ts imports", async () => {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", join(ROOT, "scripts/compile.ts")],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  assert.ok(info.success);
  const modules = (JSON.parse(new TextDecoder().decode(info.stdout)) as {
    modules: Array<{ specifier: string }>;
  }).modules.map((m) => m.specifier).filter((s) => s.startsWith("file:"))
    .map((s) => relative(ROOT, fileURLToPath(s)));
  assert.ok(modules.includes("scripts/npm_pruning.ts"), modules.join(", "));
  const copied = build.filter((i) => i.keyword === "COPY" && !i.args.includes("--from"))
    .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
  for (const module of modules) {
    assert.ok(
      copied.some((source) =>
        module === source || module.startsWith(`${source.replace(/\/$/, "")}/`)
      ),
      `the build stage does not copy "${module}", which scripts/compile.ts imports`,
    );
  }
});
