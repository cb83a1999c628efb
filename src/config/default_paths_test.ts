import assert from "node:assert/strict";
import { defaultConfigPath } from "./default_paths.ts";

Deno.test("defaultConfigPath follows the official runner's locations", () => {
  assert.equal(
    defaultConfigPath({ os: "linux", uid: 0, home: "/root", cwd: "/srv" }),
    "/etc/gitlab-runner/config.toml",
  );
  assert.equal(
    defaultConfigPath({ os: "linux", uid: 1000, home: "/home/ci", cwd: "/srv" }),
    "/home/ci/.gitlab-runner/config.toml",
  );
  assert.equal(
    defaultConfigPath({ os: "darwin", uid: 501, home: "/Users/ci", cwd: "/" }),
    "/Users/ci/.gitlab-runner/config.toml",
  );
  assert.equal(
    defaultConfigPath({ os: "linux", uid: 1000, home: null, cwd: "/srv" }),
    "/srv/config.toml",
  );
  assert.match(
    defaultConfigPath({ os: "windows", uid: null, home: "C:\\Users\\ci", cwd: "C:\\runner" }),
    /config\.toml$/,
  );
});
