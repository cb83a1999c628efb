import assert from "node:assert/strict";
import { parseConfig } from "./parse_config.ts";
import { encodeConfig } from "./encode_config.ts";
import {
  defaultConfig,
  defaultDockerServiceConfig,
  defaultRunnerConfig,
} from "./default_config.ts";
import { OFFICIAL_CONFIG_TOML } from "./_sample_configs.ts";

const opts = { file: "config.toml", env: { RUNNER_TOKEN: "glrt-fromenv123456" } };

Deno.test("load(save(x)) equals x for an official config.toml", () => {
  const first = parseConfig(OFFICIAL_CONFIG_TOML, opts).config;
  const second = parseConfig(encodeConfig(first), opts).config;
  assert.deepStrictEqual(second, first);
});

Deno.test("saving writes back int64 integers as written, after the config went through JSON", () => {
  // The supervisor gets the config as JSON (cli/config_reader_process.ts) and
  // token rotation saves it: a bigint would throw there, a number be rounded.
  const text = `concurrent = 9223372036854775807
check_interval = -9223372036854775808
[[runners]]
url = "https://gitlab.example.com"
token = "glrt-abcdefghijklmnop"
executor = "shell"
output_limit = 9223372036854775807
prepare_timeout = 9223372036854775807
[runners.cache]
MaxUploadedArchiveSize = 9223372036854775807
[runners.kubernetes]
cpu_limit_overwrite_max_allowed = [1, -9223372036854775808]
pod_labels = { big = 9223372036854775807 }
`;
  const loaded = parseConfig(text, opts).config;
  const config = JSON.parse(JSON.stringify(structuredClone(loaded)));
  const saved = encodeConfig(config);
  for (
    const line of [
      "concurrent = 9223372036854775807",
      "check_interval = -9223372036854775808",
      "output_limit = 9223372036854775807",
      "prepare_timeout = 9223372036854775807",
      "MaxUploadedArchiveSize = 9223372036854775807",
      "cpu_limit_overwrite_max_allowed = [ 1, -9223372036854775808 ]",
      "big = 9223372036854775807",
    ]
  ) {
    assert.ok(
      saved.includes(`\n${line}\n`) || saved.startsWith(`${line}\n`),
      `${line} in:\n${saved}`,
    );
  }
  assert.deepStrictEqual(parseConfig(saved, opts).config, loaded);
  // A value changed in code is written as it now is.
  config.runners[0].outputLimit = 8192;
  assert.match(encodeConfig(config), /\noutput_limit = 8192\n/);
});

Deno.test("load(save(x)) equals x for a config built in code, with every section set", () => {
  const config = defaultConfig();
  config.concurrent = 8;
  config.listenAddress = ":9252";
  config.labels = { zone: "eu" };
  const runner = defaultRunnerConfig("docker");
  runner.name = "built";
  runner.url = "https://gitlab.example.com";
  runner.token = "glrt-abcdefghijklmnop";
  runner.id = 9;
  runner.tokenObtainedAt = "2024-01-02T03:04:05Z";
  runner.unhealthyInterval = 5400;
  runner.prepareTimeout = 0.5;
  runner.featureFlags = { "FF_SCRIPT_SECTIONS": true };
  runner.cache.s3.pathStyle = false;
  runner.docker.image = "ruby:3";
  runner.docker.servicesPrivileged = true;
  runner.docker.services = [defaultDockerServiceConfig("postgres:16")];
  runner.docker.servicesDevices = { "nvidia/*": ["/dev/nvidia0"] };
  runner.unsupported = { kubernetes: { namespace: "ci" }, "docker.isolation": "process" };
  const ssh = defaultRunnerConfig("ssh");
  ssh.ssh.host = "build.example.com";
  ssh.ssh.port = "2222";
  config.runners = [runner, ssh];
  // Filled on load from the global labels, never saved.
  runner.combinedLabels = { zone: "eu" };
  ssh.combinedLabels = { zone: "eu" };
  const text = encodeConfig(config);
  assert.deepStrictEqual(parseConfig(text, opts).config, config);
});

Deno.test("saving writes the official runner's keys and skips defaults", () => {
  const config = defaultConfig();
  const runner = defaultRunnerConfig("docker");
  runner.name = "r";
  runner.url = "https://gitlab.example.com";
  runner.token = "glrt-abc";
  runner.docker.image = "alpine";
  runner.docker.volumes = ["/cache"];
  config.runners = [runner];
  const text = encodeConfig(config);
  for (
    const line of [
      "concurrent = 1",
      "check_interval = 3",
      "shutdown_timeout = 30",
      "[[runners]]",
      'name = "r"',
      "id = 0",
      "token_obtained_at = 0001-01-01T00:00:00Z",
      'executor = "docker"',
      "[runners.cache]",
      "MaxUploadedArchiveSize = 0",
      "[runners.docker]",
      'image = "alpine"',
      "privileged = false",
      'volumes = [ "/cache" ]',
      "shm_size = 0",
    ]
  ) {
    assert.ok(text.split("\n").includes(line), `missing ${line} in:\n${text}`);
  }
  for (
    const absent of [
      "output_limit",
      "pull_policy",
      "safe_directory_checkout",
      "[runners.ssh]",
      "log_level",
    ]
  ) {
    assert.ok(!text.includes(absent), `unexpected ${absent} in:\n${text}`);
  }
});

Deno.test("a $VAR token stays a $VAR until the token changes", () => {
  const source =
    `[[runners]]\nurl = "https://gitlab.example.com"\ntoken = "$RUNNER_TOKEN"\nexecutor = "shell"\n`;
  const config = parseConfig(source, opts).config;
  assert.match(encodeConfig(config), /token = "\$RUNNER_TOKEN"/);
  config.runners[0]!.token = "glrt-rotated9876543";
  assert.match(encodeConfig(config), /token = "glrt-rotated9876543"/);
});

Deno.test("unknown and unsupported keys survive a save", () => {
  const source =
    `future_global = "x"\n[[runners]]\nexecutor = "kubernetes"\nnew_key = 3\n[runners.kubernetes]\nimage = "a"\n` +
    `[[runners.kubernetes.volumes.host_path]]\nname = "h"\nmount_path = "/h"\n`;
  const text = encodeConfig(parseConfig(source, opts).config);
  assert.match(text, /^future_global = "x"$/m);
  assert.match(text, /^new_key = 3$/m);
  assert.match(text, /^\[\[runners\.kubernetes\.volumes\.host_path\]\]$/m);
});
