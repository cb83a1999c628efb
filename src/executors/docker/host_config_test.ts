import assert from "node:assert/strict";
import { defaultRunnerConfig } from "../../config/default_config.ts";
import { JobFailedError } from "../../job/failure_reason.ts";
import {
  buildHostConfig,
  isPathWithin,
  parseDevice,
  parseSize,
  parseVolume,
  resolveUser,
} from "./host_config.ts";

const base = () => defaultRunnerConfig("docker").docker;

Deno.test("docker sizes parse like the docker CLI and bad ones name the key", () => {
  assert.equal(parseSize("memory", ""), 0);
  assert.equal(parseSize("memory", "512m"), 512 * 1024 * 1024);
  assert.equal(parseSize("memory", "1g"), 1024 ** 3);
  assert.equal(parseSize("memory", "1024"), 1024);
  assert.throws(() => parseSize("memory", "lots"), /Invalid \[runners.docker\] memory "lots"/);
});

Deno.test("volumes: host binds pass through, bare paths become managed volumes", () => {
  assert.deepEqual(parseVolume("/cache"), { kind: "managed", containerPath: "/cache" });
  assert.deepEqual(parseVolume("/srv/x:/x:ro"), {
    kind: "bind",
    hostPath: "/srv/x",
    containerPath: "/x",
    bind: "/srv/x:/x:ro",
  });
  assert.throws(() => parseVolume("relative"), JobFailedError);
  assert.equal(isPathWithin("/builds/a", "/builds"), true);
  assert.equal(isPathWithin("/buildsx", "/builds"), false);
});

Deno.test("host config maps limits, capabilities and devices", () => {
  const host = buildHostConfig({
    ...base(),
    memory: "64m",
    cpus: "1.5",
    capAdd: ["NET_ADMIN"],
    capDrop: ["ALL"],
    devices: ["/dev/fuse"],
    oomKillDisable: true,
    shmSize: 1024,
    privileged: true,
  });
  assert.equal(host["Memory"], 64 * 1024 * 1024);
  assert.equal(host["NanoCpus"], 1_500_000_000);
  assert.deepEqual(host["CapAdd"], ["NET_ADMIN"]);
  assert.deepEqual(host["CapDrop"], ["ALL"]);
  assert.equal(host["Privileged"], true);
  assert.equal(host["OomKillDisable"], true);
  assert.equal(host["ShmSize"], 1024);
  assert.deepEqual(parseDevice("/dev/a:/dev/b"), {
    PathOnHost: "/dev/a",
    PathInContainer: "/dev/b",
    CgroupPermissions: "rwm",
  });
  assert.throws(() => buildHostConfig({ ...base(), memory: "1m" }), /the minimum is 4m/);
  assert.throws(() => buildHostConfig({ ...base(), cpus: "-1" }), /cpus "-1"/);
});

Deno.test("a job may pick its user only from allowed_users", () => {
  assert.equal(resolveUser({ ...base(), user: "build" }, ""), "build");
  assert.equal(resolveUser({ ...base(), user: "" }, "1000"), "1000");
  assert.equal(resolveUser({ ...base(), allowedUsers: ["1000", "app"] }, "app"), "app");
  assert.throws(
    () => resolveUser({ ...base(), user: "build" }, "root"),
    /"root" requested by the job is not in allowed_users \(\[build\]\)/,
  );
});
