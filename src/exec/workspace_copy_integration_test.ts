import assert from "node:assert/strict";
import { join } from "../path/host_path.ts";
import type { WorkspacePlan } from "../pipeline/pipeline_plan.ts";
import { copyWorkspace } from "./workspace_copy.ts";

async function sampleTree(): Promise<{ root: string; source: string; target: string }> {
  const root = await Deno.makeTempDir({ prefix: "workspace-copy-" });
  const source = join(root, "src");
  const write = async (path: string, text: string) => {
    await Deno.mkdir(join(source, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(source, path), text);
  };
  await write("README.md", "readme\n");
  await write("a/b/c.txt", "deep\n");
  await write("not-listed.txt", "left out\n");
  await write(".git/HEAD", "ref: refs/heads/main\n");
  await write(".git/objects/ab/cdef", "object\n");
  await write(".git/refs/heads/main", "0123\n");
  await Deno.symlink("README.md", join(source, "link.md"));
  return { root, source, target: join(root, "builds", "0", "project") };
}

function plan(source: string, files: string[]): WorkspacePlan {
  return { mode: "copy", sourceDir: source, files, isGitDirCopied: true, gitStrategy: "none" };
}

Deno.test("copyWorkspace copies the listed files, links, and .git (objects hard-linked) into an emptied target, beside an empty .tmp", async () => {
  const { root, source, target } = await sampleTree();
  try {
    // What an earlier job left behind goes.
    await Deno.mkdir(target, { recursive: true });
    await Deno.writeTextFile(join(target, "stale.txt"), "old\n");
    await Deno.mkdir(`${target}.tmp`, { recursive: true });
    await Deno.writeTextFile(join(`${target}.tmp`, "gitlab_runner_env"), "old\n");
    await copyWorkspace(
      plan(source, ["README.md", "a/b/c.txt", "link.md", "deleted-since.txt"]),
      target,
    );
    assert.equal(await Deno.readTextFile(join(target, "README.md")), "readme\n");
    assert.equal(await Deno.readTextFile(join(target, "a/b/c.txt")), "deep\n");
    assert.equal(await Deno.readLink(join(target, "link.md")), "README.md");
    await assert.rejects(() => Deno.lstat(join(target, "not-listed.txt")), Deno.errors.NotFound);
    await assert.rejects(() => Deno.lstat(join(target, "deleted-since.txt")), Deno.errors.NotFound);
    await assert.rejects(() => Deno.lstat(join(target, "stale.txt")), Deno.errors.NotFound);
    // The job's temporary directory is there, empty, as the prepare stage would make it.
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${target}.tmp`)), []);
    assert.equal(await Deno.readTextFile(join(target, ".git/HEAD")), "ref: refs/heads/main\n");
    // Git objects share the inode; everything else is a copy a job may change freely.
    const ino = async (path: string) => (await Deno.stat(path)).ino;
    assert.equal(
      await ino(join(target, ".git/objects/ab/cdef")),
      await ino(join(source, ".git/objects/ab/cdef")),
    );
    assert.notEqual(await ino(join(target, ".git/HEAD")), await ino(join(source, ".git/HEAD")));
    assert.notEqual(await ino(join(target, "README.md")), await ino(join(source, "README.md")));
    await Deno.writeTextFile(join(target, "README.md"), "changed by the job\n", { append: true });
    assert.equal(await Deno.readTextFile(join(source, "README.md")), "readme\n");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("copyWorkspace brings back what a job changed in an earlier copy, and keeps the files it left as they were", async () => {
  const { root, source, target } = await sampleTree();
  try {
    await Deno.writeTextFile(join(source, "keep.txt"), "kept\n");
    await Deno.writeTextFile(join(source, "tool.sh"), "echo tool\n");
    await Deno.mkdir(join(source, "lib"));
    await Deno.writeTextFile(join(source, "lib/x.txt"), "x\n");
    await Deno.chmod(join(source, "tool.sh"), 0o644);
    const listed = plan(source, [
      "README.md",
      "a/b/c.txt",
      "link.md",
      "keep.txt",
      "tool.sh",
      "lib/x.txt",
    ]);
    await copyWorkspace(listed, target);
    // A second name for the copied keep.txt, outside the copy: a file removed
    // and copied again would have another inode than this one.
    await Deno.link(join(target, "keep.txt"), join(root, "keep-link"));
    // What a job does to its copy.
    await Deno.writeTextFile(join(target, "README.md"), "changed\n", { append: true });
    await Deno.remove(join(target, "a/b/c.txt"));
    await Deno.remove(join(target, "link.md"));
    await Deno.writeTextFile(join(target, "link.md"), "a file now\n");
    await Deno.chmod(join(target, "tool.sh"), 0o755);
    const dirMode = (await Deno.stat(join(target, "a"))).mode! & 0o777;
    await Deno.chmod(join(target, "a"), 0o700);
    await Deno.mkdir(join(target, "build/out"), { recursive: true });
    await Deno.writeTextFile(join(target, "build/out/app.bin"), "built\n");
    await Deno.writeTextFile(join(target, ".git/HEAD"), "ref: refs/heads/topic\n");
    await Deno.remove(join(target, ".git/objects/ab/cdef"));
    await Deno.writeTextFile(join(target, ".git/refs/heads/topic"), "4567\n");
    await Deno.writeTextFile(join(`${target}.tmp`, "gitlab_runner_env"), "A=1\n");
    // Links to a directory outside: the links go, never what they point to.
    await Deno.mkdir(join(root, "outside"));
    await Deno.writeTextFile(join(root, "outside", "precious.txt"), "mine\n");
    await Deno.symlink(join(root, "outside"), join(target, "out"));
    await Deno.remove(join(target, "lib"), { recursive: true });
    await Deno.symlink(join(root, "outside"), join(target, "lib"));

    await copyWorkspace(listed, target);
    assert.equal(await Deno.readTextFile(join(target, "README.md")), "readme\n");
    assert.equal(await Deno.readTextFile(join(target, "a/b/c.txt")), "deep\n");
    assert.equal(await Deno.readLink(join(target, "link.md")), "README.md");
    assert.equal((await Deno.stat(join(target, "tool.sh"))).mode! & 0o777, 0o644);
    assert.equal((await Deno.stat(join(target, "a"))).mode! & 0o777, dirMode);
    await assert.rejects(() => Deno.lstat(join(target, "build")), Deno.errors.NotFound);
    await assert.rejects(() => Deno.lstat(join(target, "out")), Deno.errors.NotFound);
    assert.equal(await Deno.readTextFile(join(target, "lib/x.txt")), "x\n");
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(join(root, "outside")))).map((e) => e.name),
      ["precious.txt"],
    );
    assert.equal(await Deno.readTextFile(join(target, ".git/HEAD")), "ref: refs/heads/main\n");
    assert.equal(
      (await Deno.stat(join(target, ".git/objects/ab/cdef"))).ino,
      (await Deno.stat(join(source, ".git/objects/ab/cdef"))).ino,
    );
    await assert.rejects(
      () => Deno.lstat(join(target, ".git/refs/heads/topic")),
      Deno.errors.NotFound,
    );
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${target}.tmp`)), []);
    // The file the job left alone is the same file.
    assert.equal(await Deno.readTextFile(join(target, "keep.txt")), "kept\n");
    assert.equal(
      (await Deno.stat(join(target, "keep.txt"))).ino,
      (await Deno.stat(join(root, "keep-link"))).ino,
    );
    // And a file the user changed since is copied again.
    await Deno.writeTextFile(join(source, "keep.txt"), "edited\n");
    await copyWorkspace(listed, target);
    assert.equal(await Deno.readTextFile(join(target, "keep.txt")), "edited\n");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("copyWorkspace makes the copy writable for any user from worldWritableFrom down", async () => {
  const { root, source, target } = await sampleTree();
  try {
    const builds = join(root, "builds");
    await copyWorkspace(plan(source, ["README.md", "a/b/c.txt"]), target, {
      worldWritableFrom: builds,
    });
    const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;
    for (
      const dir of [
        builds,
        join(builds, "0"),
        target,
        `${target}.tmp`,
        join(target, "a"),
        join(target, "a/b"),
      ]
    ) {
      assert.equal(await mode(dir), 0o777, dir);
    }
    for (const file of ["README.md", "a/b/c.txt", ".git/HEAD"]) {
      assert.equal((await mode(join(target, file))) & 0o666, 0o666, file);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("copyWorkspace copies a tree that takes longer than one turn of the event loop, and lets timers run meanwhile", async () => {
  const root = await Deno.makeTempDir({ prefix: "workspace-copy-" });
  try {
    const source = join(root, "src");
    const files: string[] = [];
    // Several times the 50 ms a turn waits for, at ~20-50 µs a file.
    for (let i = 0; i < 5000; i++) {
      const path = `d${i % 7}/f${i}.txt`;
      await Deno.mkdir(join(source, `d${i % 7}`), { recursive: true });
      await Deno.writeTextFile(join(source, path), `${i}\n`);
      files.push(path);
    }
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      await copyWorkspace(
        { ...plan(source, files), isGitDirCopied: false },
        join(root, "target"),
      );
    } finally {
      clearInterval(timer);
    }
    for (const i of [0, 255, 256, 4999]) {
      assert.equal(await Deno.readTextFile(join(root, "target", files[i]!)), `${i}\n`);
    }
    assert.ok(ticks > 0, "the event loop ran during the copy");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
