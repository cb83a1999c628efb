import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { parseConfig } from "./parse_config.ts";
import { isSameConfigValue } from "./config_equal.ts";

const SAMPLE = `
concurrent = 2
check_interval = 3
[session_server]
  listen_address = "127.0.0.1:8093"
[[runners]]
  name = "a"
  url = "https://gitlab.example.com"
  token = "glrt-t1_aaaaaaaaaaaaaaaaaaaa"
  executor = "docker"
  token_obtained_at = 2024-01-02T03:04:05Z
  environment = ["A=1", "B=2"]
  [runners.docker]
    image = "alpine"
    volumes = ["/cache"]
  [runners.cache]
    Type = "s3"
    [runners.cache.s3]
      BucketName = "b"
`;

Deno.test("config equality answers as node:util's isDeepStrictEqual on configs and their edits", () => {
  const load = (text: string) => parseConfig(text, { file: "config.toml", env: {} }).config;
  const base = load(SAMPLE);
  const edits = [
    SAMPLE,
    SAMPLE.replace("concurrent = 2", "concurrent = 3"),
    SAMPLE.replace('"A=1", "B=2"', '"A=1"'),
    SAMPLE.replace("2024-01-02T03:04:05Z", "2024-01-02T03:04:06Z"),
    SAMPLE.replace('volumes = ["/cache"]', 'volumes = ["/cache", "/x"]'),
    SAMPLE.replace('BucketName = "b"', 'BucketName = "c"'),
    SAMPLE.replace("[session_server]", "[session_server]\n  session_timeout = 10"),
  ];
  for (const text of edits) {
    const other = load(text);
    assert.equal(isSameConfigValue(base, other), isDeepStrictEqual(base, other), text);
  }
  assert.equal(isSameConfigValue(base, load(SAMPLE)), true);
  assert.equal(isSameConfigValue(base, load(edits[1]!)), false);
});

Deno.test("config equality: NaN equals NaN, 0 is not -0, dates by time, keys not order, prototypes count", () => {
  assert.equal(isSameConfigValue(Number.NaN, Number.NaN), true);
  assert.equal(isSameConfigValue(0, -0), false);
  assert.equal(isSameConfigValue(new Date(5), new Date(5)), true);
  assert.equal(isSameConfigValue(new Date(5), new Date(6)), false);
  assert.equal(isSameConfigValue({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }), true);
  assert.equal(isSameConfigValue({ a: undefined }, {}), false);
  assert.equal(isSameConfigValue([1, 2], { 0: 1, 1: 2 }), false);
  assert.equal(isSameConfigValue(new Map([["a", [1]]]), new Map([["a", [1]]])), true);
  assert.equal(isSameConfigValue(new Set([1]), new Set([2])), false);
  assert.equal(isSameConfigValue("1", 1), false);
});
