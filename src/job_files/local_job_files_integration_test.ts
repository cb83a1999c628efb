/**
 * LocalJobFiles in a process whose fs grants are scoped, as an executor
 * process's are: Deno refuses it Deno.symlink, so the links of an archive
 * are made by one perl process, also through the target that hands what it
 * extracted to the job user.
 */
import assert from "node:assert/strict";
import { craftZip } from "../archive/crafted_zip.ts";

const hasTools = await Promise.all(
  ["strace", "perl"].map((program) =>
    new Deno.Command(program, { args: ["-V"], stdout: "null", stderr: "null" }).output()
      .then(() => true, () => false)
  ),
).then((found) => found.every(Boolean));

Deno.test({
  name:
    "an extraction handed to the job user creates the archive's symlinks in one perl process and records them",
  ignore: !hasTools,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "local-job-files-" });
    try {
      const target = `${root}/project`;
      await Deno.writeFile(
        `${root}/links.zip`,
        craftZip([
          { name: "pkg/bin/tool", content: "tool" },
          ...Array.from({ length: 20 }, (_, i) => ({
            name: `.bin/t${i}`,
            kind: "symlink" as const,
            content: "../pkg/bin/tool",
          })),
        ]),
      );
      const script = `${root}/extract.ts`;
      await Deno.writeTextFile(
        script,
        `import { extractZip, LocalFileReader } from ${
          JSON.stringify(new URL("../archive/mod.ts", import.meta.url).href)
        };
import { LocalJobFiles } from ${
          JSON.stringify(new URL("./local_job_files.ts", import.meta.url).href)
        };
const files = new LocalJobFiles(undefined, () => ({ uid: Deno.uid() ?? 0, gid: Deno.gid() ?? 0 }));
const session = await files.openTarget(Deno.args[1]);
const reader = await LocalFileReader.open(Deno.args[0]);
await extractZip(reader, session.target);
await session.commit();
await reader.close();
`,
      );
      const log = `${root}/strace.log`;
      const out = await new Deno.Command("strace", {
        args: [
          "-f",
          "-q",
          "-e",
          "trace=execve",
          "-o",
          log,
          "--",
          Deno.execPath(),
          "run",
          "--quiet",
          "--no-prompt",
          `--allow-read=${root}`,
          `--allow-write=${root}`,
          "--allow-run",
          "--allow-sys",
          "--allow-env",
          script,
          `${root}/links.zip`,
          target,
        ],
        env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      for (let i = 0; i < 20; i++) {
        assert.equal(await Deno.readLink(`${target}/.bin/t${i}`), "../pkg/bin/tool");
      }
      const started = (await Deno.readTextFile(log)).split("\n")
        .filter((l) => /execve\(/.test(l) && / = 0$/.test(l))
        .map((l) => /execve\("([^"]+)"/.exec(l)?.[1]?.split("/").pop());
      // deno itself, then one program for all 20 links.
      assert.deepEqual(started.slice(1), ["perl"]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
