import assert from "node:assert/strict";
import { join } from "node:path";
import { saveConfig } from "./save_config.ts";
import { loadConfigFile } from "./load_config.ts";
import { defaultConfig, defaultRunnerConfig } from "./default_config.ts";

Deno.test("saveConfig writes mode 0600 in a new 0700 directory, atomically, and loads back", async () => {
  const base = await Deno.makeTempDir({ prefix: "runner-save-" });
  try {
    const path = join(base, "etc", "config.toml");
    const config = defaultConfig();
    const runner = defaultRunnerConfig("shell");
    runner.name = "saved";
    runner.token = "glrt-saved12345678";
    config.runners = [runner];
    await saveConfig(path, config);
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(join(base, "etc"))).mode! & 0o777, 0o700);
    }
    const loaded = await loadConfigFile(path, { env: {}, missingFile: "error" });
    assert.deepStrictEqual(loaded.config, config);
    runner.limit = 3;
    await saveConfig(path, config);
    const entries = [];
    for await (const entry of Deno.readDir(join(base, "etc"))) entries.push(entry.name);
    assert.deepEqual(entries, ["config.toml"], "no temporary file is left behind");
    assert.equal(
      (await loadConfigFile(path, { env: {}, missingFile: "error" })).config.runners[0]?.limit,
      3,
    );
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("saveConfig keeps a config.toml symlink and rewrites the file it leads to", {
  ignore: Deno.build.os === "windows",
}, async () => {
  const base = await Deno.makeTempDir({ prefix: "runner-save-" });
  try {
    // /etc/gitlab-runner/config.toml -> /srv/runner/config.toml, and a chain of two links.
    await Deno.mkdir(join(base, "srv"));
    await Deno.mkdir(join(base, "etc"));
    const target = join(base, "srv", "config.toml");
    await Deno.writeTextFile(target, "concurrent = 4\n");
    const link = join(base, "etc", "config.toml");
    await Deno.symlink(join("..", "srv", "config.toml"), link);
    const chained = join(base, "etc", "current.toml");
    await Deno.symlink("config.toml", chained);
    // A link to a file not there yet: the file is created where it leads.
    const dangling = join(base, "etc", "new.toml");
    await Deno.symlink(join("..", "srv", "new.toml"), dangling);
    const config = defaultConfig();
    config.concurrent = 7;
    for (const path of [link, chained, dangling]) {
      await saveConfig(path, config);
      assert.ok((await Deno.lstat(path)).isSymlink, `${path} is still a link`);
    }
    assert.match(await Deno.readTextFile(target), /concurrent = 7/);
    assert.match(await Deno.readTextFile(join(base, "srv", "new.toml")), /concurrent = 7/);
    assert.equal((await Deno.stat(target)).mode! & 0o777, 0o600);
    const etc = [];
    for await (const entry of Deno.readDir(join(base, "etc"))) etc.push(entry.name);
    assert.deepEqual(etc.sort(), ["config.toml", "current.toml", "new.toml"]);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("saveConfig run by root keeps the owner of the config.toml it replaces", {
  ignore: Deno.build.os === "windows" || Deno.uid() !== 0,
}, async () => {
  const base = await Deno.makeTempDir({ prefix: "runner-save-" });
  try {
    const path = join(base, "config.toml");
    await Deno.writeTextFile(path, "concurrent = 4\n", { mode: 0o600 });
    // The runner's own user (nobody here): after `sudo runner register` it must still read it.
    await Deno.chown(path, 65534, 65534);
    await saveConfig(path, defaultConfig());
    const { uid, gid, mode } = await Deno.stat(path);
    assert.deepEqual({ uid, gid, mode: mode! & 0o777 }, { uid: 65534, gid: 65534, mode: 0o600 });
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
