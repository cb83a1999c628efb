/**
 * `runner cache clear` with a config it cannot use. DOCKER_HOST names a socket
 * nobody listens on, so that no run of these tests can touch the volumes of
 * the machine's dockerd.
 */
import assert from "node:assert/strict";
import { runCli } from "../fixtures/runner_process.ts";

Deno.test("runner cache clear refuses a --config or CONFIG_FILE that names no file instead of clearing every runner's cache", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cache-clear-" });
  try {
    const env = { DOCKER_HOST: `unix://${dir}/nobody.sock` };
    const flag = await runCli(["cache", "clear", "--config", `${dir}/typo.toml`], { env });
    assert.equal(flag.code, 1, flag.stdout + flag.stderr);
    assert.match(flag.stderr, /typo\.toml: Cannot read config file: the file does not exist/);
    assert.doesNotMatch(flag.stdout + flag.stderr, /every runner|ENOENT .*nobody\.sock/);

    const variable = await runCli(["cache", "clear"], {
      env: { ...env, CONFIG_FILE: `${dir}/typo.toml` },
    });
    assert.equal(variable.code, 1, variable.stdout + variable.stderr);
    assert.match(variable.stderr, /typo\.toml: Cannot read config file: the file does not exist/);

    // A file without docker runners still means every runner's volumes, saying so.
    await Deno.writeTextFile(`${dir}/config.toml`, "concurrent = 1\n");
    const none = await runCli(["cache", "clear", "--config", `${dir}/config.toml`], { env });
    assert.match(
      none.stdout,
      /No docker runner in .*config\.toml: removing the cache volumes of every runner/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runner cache clear says it cannot reach Docker, naming where it looked, without a stack trace", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cache-clear-" });
  try {
    await Deno.writeTextFile(`${dir}/config.toml`, "concurrent = 1\n");
    const run = await runCli(["cache", "clear", "--config", `${dir}/config.toml`], {
      env: { DOCKER_HOST: `unix://${dir}/nobody.sock` },
    });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      /^ERROR: Cannot clear cache volumes: connect ENOENT .*nobody\.sock \(is Docker running\? \[runners\.docker\] host or DOCKER_HOST says where\)\n$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
