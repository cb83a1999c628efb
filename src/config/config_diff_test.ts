import assert from "node:assert/strict";
import { describeConfigChanges } from "./config_diff.ts";
import { parseConfig } from "./parse_config.ts";

const load = (text: string) => parseConfig(text, { file: "config.toml", env: {} }).config;

Deno.test("describeConfigChanges names changed globals and runners by short token", () => {
  const before = load(`concurrent = 4
check_interval = 3
[[runners]]
token = "glrt-abc123xyzAAAA"
limit = 1
[runners.docker]
image = "alpine"
[[runners]]
token = "glrt-def456ghiBBBB"
`);
  const after = load(`concurrent = 8
check_interval = 1
[[runners]]
token = "glrt-abc123xyzAAAA"
limit = 2
[runners.docker]
image = "debian"
[[runners]]
token = "glrt-t2_new789jklCCCC"
`);
  assert.equal(
    describeConfigChanges(before, after),
    "concurrent 4 → 8; check_interval 3 → 1; runner abc123xyz changed (limit, docker.image); " +
      "runner new789jkl added; runner def456ghi removed",
  );
  assert.equal(describeConfigChanges(after, after), "no changes");
});

Deno.test("describeConfigChanges does not print runner values, which may be secret", () => {
  const before = load(
    `[[runners]]\ntoken = "glrt-abc123xyzAAAA"\n[runners.ssh]\npassword = "old-secret"\n`,
  );
  const after = load(
    `[[runners]]\ntoken = "glrt-abc123xyzAAAA"\n[runners.ssh]\npassword = "new-secret"\n`,
  );
  assert.equal(describeConfigChanges(before, after), "runner abc123xyz changed (ssh.password)");
});
