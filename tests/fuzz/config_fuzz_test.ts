/** Hostile config.toml: every input parses or throws a ConfigError with a message. */
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../src/config/mod.ts";
import { OFFICIAL_CONFIG_TOML } from "../../src/config/_sample_configs.ts";
import {
  assertClearError,
  forEachInput,
  fuzzIterations,
  fuzzSeed,
  type Prng,
} from "./_fuzz_input.ts";

const KEYS = [
  "concurrent",
  "check_interval",
  "log_level",
  "log_format",
  "shutdown_timeout",
  "listen_address",
  "name",
  "url",
  "token",
  "executor",
  "limit",
  "output_limit",
  "builds_dir",
  "cache_dir",
  "environment",
  "request_concurrency",
  "unhealthy_requests_limit",
  "unhealthy_interval",
  "pre_build_script",
  "clone_url",
  "shell",
  "image",
  "privileged",
  "volumes",
  "pull_policy",
  "memory",
  "cpus",
  "Type",
  "Shared",
  "BucketName",
];

function tomlValue(rng: Prng): string {
  switch (rng.int(0, 7)) {
    case 0:
      return JSON.stringify(rng.nastyString());
    case 1:
      return String(rng.pick([0, -1, 1, 2 ** 31, 2 ** 63, 1e309, 0.5, -0]));
    case 2:
      return rng.pick(["true", "false", "inf", "nan", "-inf"]);
    case 3:
      return `[${Array.from({ length: rng.int(0, 3) }, () => tomlValue(rng)).join(", ")}]`;
    case 4:
      return `{ ${rng.pick(KEYS)} = ${tomlValue(rng)} }`;
    case 5:
      return rng.pick(["1979-05-27T07:32:00Z", "0001-01-01T00:00:00Z", "07:32:00", "1979-05-27"]);
    case 6:
      return `'''${rng.nastyString()}'''`;
    default:
      return JSON.stringify(
        rng.pick(["1h", "30m", "bogus", "shell", "docker", "always", "s3", "${TOKEN}"]),
      );
  }
}

function generated(rng: Prng): string {
  const lines: string[] = [];
  for (let i = rng.int(0, 6); i > 0; i--) lines.push(`${rng.pick(KEYS)} = ${tomlValue(rng)}`);
  for (let r = rng.int(0, 3); r > 0; r--) {
    lines.push(
      rng.pick([
        "[[runners]]",
        "[runners.docker]",
        "[runners.cache]",
        "[[runners.docker.services]]",
        "[session_server]",
        "[runners]",
        "[[runners.cache.s3]]",
      ]),
    );
    for (let i = rng.int(0, 8); i > 0; i--) lines.push(`  ${rng.pick(KEYS)} = ${tomlValue(rng)}`);
  }
  return lines.join("\n");
}

Deno.test("config.toml: random and mutated files never crash parseConfig; each error is a ConfigError", async () => {
  const seen = { accepted: 0, refused: 0 };
  await forEachInput(
    "parseConfig",
    { iterations: fuzzIterations(400), seed: fuzzSeed() },
    (rng) => rng.chance(0.5) ? rng.mutateText(OFFICIAL_CONFIG_TOML) : generated(rng),
    (text) => {
      try {
        parseConfig(text, { file: "config.toml", env: { TOKEN: "glrt-x" } });
        seen.accepted++;
      } catch (err) {
        assertClearError(err, ConfigError);
        seen.refused++;
      }
    },
  );
  assert.ok(seen.accepted > 0 && seen.refused > 0, `both outcomes occur: ${JSON.stringify(seen)}`);
});
