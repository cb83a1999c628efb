import assert from "node:assert/strict";
import { defaultRunnerConfig } from "../../config/default_config.ts";
import { JobFailedError } from "../../job/failure_reason.ts";
import {
  buildHostConfig,
  isPathWithin,
  isPrivilegeAllowed,
  logConfig,
  parseDevice,
  parseGpus,
  parseSize,
  parseUlimits,
  parseVolume,
  parseVolumes,
  resolveUser,
  serviceHostConfig,
} from "./host_config.ts";
import { normalizePlatform } from "./image_puller.ts";
import { defaultHelperImage } from "./docker_executor.ts";
import { containerLabels } from "./docker_labels.ts";

const base = () => defaultRunnerConfig("docker").docker;

Deno.test("docker sizes parse like the docker CLI and bad ones name the key", () => {
  assert.equal(parseSize("memory", ""), 0);
  assert.equal(parseSize("memory", "512m"), 512 * 1024 * 1024);
  assert.equal(parseSize("memory", "1g"), 1024 ** 3);
  assert.equal(parseSize("memory", "1024"), 1024);
  // Docker's RAMInBytes, which the official runner reads them with, takes "MiB" and "p" too.
  assert.equal(parseSize("memory", "512MiB"), 512 * 1024 * 1024);
  assert.equal(parseSize("memory", "2gi"), 2 * 1024 ** 3);
  assert.equal(parseSize("memory_swap", "1p"), 1024 ** 5);
  assert.throws(() => parseSize("memory", "512mbi"), /memory "512mbi": expected a size/);
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

Deno.test("a negative shm_size, cpu_shares or service_cpu_shares fails the job naming the key", () => {
  // Docker refuses these (the official runner's jobs fail with its error); they
  // were dropped, and the job ran without the limit.
  const refused = (fn: () => unknown, message: string) =>
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof JobFailedError);
      assert.equal(err.reason, "runner_configuration_error");
      assert.equal(err.message, message);
      return true;
    });
  refused(
    () => buildHostConfig({ ...base(), shmSize: -1 }),
    `Invalid [runners.docker] shm_size "-1": Docker refuses a value below 0`,
  );
  refused(
    () => buildHostConfig({ ...base(), cpuShares: -512 }),
    `Invalid [runners.docker] cpu_shares "-512": Docker refuses a value below 0`,
  );
  refused(
    () => serviceHostConfig({ ...base(), shmSize: -1 }, "redis"),
    `Invalid [runners.docker] shm_size "-1": Docker refuses a value below 0`,
  );
  refused(
    () => serviceHostConfig({ ...base(), serviceCpuShares: -2 }, "redis"),
    `Invalid [runners.docker] service_cpu_shares "-2": Docker refuses a value below 0`,
  );
  // 0 leaves Docker's default.
  assert.equal(buildHostConfig({ ...base(), shmSize: 0, cpuShares: 0 })["ShmSize"], undefined);
});

Deno.test("a volumes container path given twice or the root fails the job naming the entry", () => {
  assert.throws(
    () => parseVolumes(["/tmp:/data", "/var:/data/"]),
    /^JobFailedError: Invalid \[runners.docker\] volumes "\/var:\/data\/": a volume for container path "\/data" is already defined$/,
  );
  assert.throws(
    () => parseVolumes(["/cache", "/cache"]),
    /volumes "\/cache": a volume for container path "\/cache" is already defined$/,
  );
  assert.throws(
    () => parseVolumes(["/"]),
    /^JobFailedError: Invalid \[runners.docker\] volumes "\/": the container path is the root directory$/,
  );
  assert.throws(() => parseVolumes(["/srv:/"]), /the container path is the root directory/);
  assert.deepEqual(parseVolumes(["/cache", "/srv:/srv:ro", "/data"]).map((v) => v.containerPath), [
    "/cache",
    "/srv",
    "/data",
  ]);
});

Deno.test("an ipcmode or pid_mode Docker does not know fails the job naming the key", () => {
  assert.throws(
    () => buildHostConfig({ ...base(), ipcmode: "bogus" }),
    /^JobFailedError: Invalid \[runners.docker\] ipcmode "bogus": expected "none", "private", "shareable", "host" or "container:<name>"$/,
  );
  assert.throws(
    () => buildHostConfig({ ...base(), pidMode: "hots" }, { isBuild: true, image: "x" }),
    /^JobFailedError: Invalid \[runners.docker\] pid_mode "hots": expected "host" or "container:<name>"$/,
  );
  for (const ipcmode of ["none", "private", "shareable", "host", "container:db"]) {
    assert.equal(buildHostConfig({ ...base(), ipcmode })["IpcMode"], ipcmode);
  }
  for (const pidMode of ["host", "container:db"]) {
    const host = buildHostConfig({ ...base(), pidMode }, { isBuild: true, image: "x" });
    assert.equal(host["PidMode"], pidMode);
  }
});

Deno.test("a userns_mode other than host fails the job naming the key", () => {
  type Config = ReturnType<typeof base>;
  for (const config of [buildHostConfig, (c: Config) => serviceHostConfig(c, "svc")]) {
    assert.throws(
      () => config({ ...base(), usernsMode: "hots" }),
      /^JobFailedError: Invalid \[runners.docker\] userns_mode "hots": expected "host" \(or no value\)$/,
    );
    assert.equal(config({ ...base(), usernsMode: "host" })["UsernsMode"], "host");
    assert.equal(config(base())["UsernsMode"], undefined);
  }
});

Deno.test("a cpus or service_cpus value below Docker's 0.01 fails the job naming the key", () => {
  assert.throws(
    () => buildHostConfig({ ...base(), cpus: "0.001" }),
    /^JobFailedError: Invalid \[runners.docker\] cpus "0.001": the minimum is 0.01 \(Docker's range\)$/,
  );
  assert.throws(
    () => serviceHostConfig({ ...base(), serviceCpus: "0.009" }, "svc"),
    /^JobFailedError: Invalid \[runners.docker\] service_cpus "0.009": the minimum is 0.01/,
  );
  assert.equal(buildHostConfig({ ...base(), cpus: "0.01" })["NanoCpus"], 10_000_000);
});

Deno.test("a memory or cpus value too large for Docker fails the job naming the key", () => {
  // Docker's daemon refused the JSON (1.099511627775989e+26 into HostConfig.Memory),
  // a system failure naming no key.
  assert.throws(
    () => buildHostConfig({ ...base(), memory: "99999999999999t" }),
    /^JobFailedError: Invalid \[runners.docker\] memory "99999999999999t": too large: at most 9007199254740991 bytes$/,
  );
  assert.throws(
    () => serviceHostConfig({ ...base(), serviceCpus: "1e30" }, "redis"),
    /^JobFailedError: Invalid \[runners.docker\] service_cpus "1e30": too large: at most 9007199 CPUs$/,
  );
  assert.equal(parseSize("memory", "8191t"), 8191 * 1024 ** 4);
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

Deno.test("ulimit entries are soft[:hard] integers; a bad one names the key", () => {
  assert.deepEqual(parseUlimits({ nofile: "1024:2048", core: "0" }), [
    { Name: "nofile", Soft: 1024, Hard: 2048 },
    { Name: "core", Soft: 0, Hard: 0 },
  ]);
  assert.throws(() => parseUlimits({ nofile: "lots" }), /ulimit.nofile "lots"/);
  assert.deepEqual(parseUlimits({ memlock: "-1" }), [{ Name: "memlock", Soft: -1, Hard: -1 }]);
  // Docker refused the JSON of a number this large; Go's ParseInt refuses the others.
  for (const bad of ["99999999999999999999", "1024:99999999999999999999", "1e3", "0x10", "1:"]) {
    assert.throws(
      () => parseUlimits({ nofile: bad }),
      new RegExp(`ulimit.nofile "${bad}": expected soft\\[:hard\\] as integers`),
    );
  }
});

Deno.test("gpus follow the docker CLI --gpus syntax", () => {
  assert.deepEqual(parseGpus("gpus", ""), []);
  assert.deepEqual(parseGpus("gpus", "all"), [{
    Driver: "",
    Count: -1,
    DeviceIDs: [],
    Capabilities: [["gpu"]],
    Options: {},
  }]);
  assert.deepEqual(parseGpus("gpus", 'driver=nvidia,"device=0,1",capabilities=compute'), [{
    Driver: "nvidia",
    Count: 0,
    DeviceIDs: ["0", "1"],
    Capabilities: [["gpu", "compute"]],
    Options: {},
  }]);
  assert.throws(() => parseGpus("service_gpus", "color=red"), /service_gpus "color=red"/);
});

Deno.test("log_options allow only env and labels, like the official runner", () => {
  assert.deepEqual(logConfig({ ...base(), logOptions: { env: "A" } }), {
    Type: "json-file",
    Config: { env: "A" },
  });
  assert.throws(
    () => logConfig({ ...base(), logOptions: { "max-size": "1m" } }),
    /only "env" and "labels" are allowed, found "max-size"/,
  );
});

Deno.test("privileged allow-lists are doublestar globs; empty allows all", () => {
  assert.equal(isPrivilegeAllowed("docker:dind", []), true);
  assert.equal(isPrivilegeAllowed("docker:24-dind", ["docker:*-dind"]), true);
  assert.equal(isPrivilegeAllowed("library/docker:dind", ["docker:*"]), false);
  assert.equal(isPrivilegeAllowed("library/docker:dind", ["**/docker:*"]), true);
  const host = buildHostConfig({ ...base(), privileged: true, allowedPrivilegedImages: ["x:*"] }, {
    isBuild: true,
    image: "y:1",
  });
  assert.equal(host["Privileged"], false);
});

Deno.test("service host config uses the service_* keys and services_privileged", () => {
  const host = serviceHostConfig({
    ...base(),
    privileged: true,
    servicesPrivileged: false,
    serviceMemory: "64m",
    serviceCpus: "0.5",
    servicesDevices: { "db/*": ["/dev/fuse"] },
    memory: "1g",
  }, "db/postgres:16");
  assert.equal(host["Privileged"], false);
  assert.equal(host["Memory"], 64 * 1024 * 1024);
  assert.equal(host["NanoCpus"], 500_000_000);
  assert.deepEqual(host["Devices"], [{
    PathOnHost: "/dev/fuse",
    PathInContainer: "/dev/fuse",
    CgroupPermissions: "rwm",
  }]);
  assert.deepEqual(serviceHostConfig(base(), "other:1")["Devices"], []);
});

Deno.test("platforms normalize like containerd's parser", () => {
  assert.equal(normalizePlatform("linux/amd64"), "linux/amd64");
  assert.equal(normalizePlatform("arm64"), "linux/arm64");
  assert.equal(normalizePlatform("linux/aarch64/v8"), "linux/arm64");
  assert.equal(normalizePlatform("linux/x86_64"), "linux/amd64");
});

Deno.test("helper_image_flavor names the official flavoured helper tag", () => {
  assert.match(defaultHelperImage(""), /gitlab-runner-helper:x86_64-latest$/);
  assert.match(defaultHelperImage("alpine"), /gitlab-runner-helper:x86_64-latest$/);
  assert.match(defaultHelperImage("ubuntu"), /gitlab-runner-helper:ubuntu-x86_64-latest$/);
});

Deno.test("container_labels never replace the labels the orphan sweep relies on", () => {
  const labels = containerLabels(
    { "runner.owner": "me", "com.gitlab.gitlab-runner.type": "service" },
    { "runner.owner": "someone-else", team: "a" },
    true,
  );
  assert.equal(labels["runner.owner"], "me");
  assert.equal(labels["team"], "a");
  assert.equal(labels["com.gitlab.gitlab-runner.team"], "a");
});

Deno.test("a dns entry that is not an IP address fails the job naming the key", () => {
  for (const dns of ["notanip", "8.8.8.8:53", "", "1.2.3"]) {
    for (
      const build of [
        () => buildHostConfig({ ...base(), dns: [dns] }),
        () => serviceHostConfig({ ...base(), dns: ["1.1.1.1", dns] }, "svc"),
      ]
    ) {
      assert.throws(build, (err: unknown) => {
        assert.ok(err instanceof JobFailedError);
        assert.equal(err.reason, "runner_configuration_error");
        assert.equal(
          err.message,
          `Invalid [runners.docker] dns "${dns}": expected an IP address (the official runner ` +
            "refuses any other)",
        );
        return true;
      });
    }
  }
  const host = buildHostConfig({ ...base(), dns: ["8.8.8.8", "2001:4860:4860::8888"] });
  assert.deepEqual(host["Dns"], ["8.8.8.8", "2001:4860:4860::8888"]);
});

Deno.test("volumes read as the official runner's parser: a bad mode names the key", () => {
  for (const spec of ["/x:/y:bogusmode", "/x:/y:nocopy", "/x:/y:", "/x:/y:ro:bogus", "a/b:/c"]) {
    assert.throws(() => parseVolume(spec), (err: unknown) => {
      assert.ok(err instanceof JobFailedError);
      assert.equal(err.reason, "runner_configuration_error");
      assert.match(err.message, new RegExp(`^Invalid \\[runners.docker\\] volumes "${spec}": `));
      return true;
    });
  }
  // Mode, SELinux label and propagation, after ":" or ",", as Docker is given them.
  const binds: [string, string][] = [
    ["/srv:/srv:ro:z", "/srv:/srv:ro,z"],
    ["/srv:/srv:ro,Z", "/srv:/srv:ro,Z"],
    ["/srv:/srv:z", "/srv:/srv:z"],
    ["/srv:/srv:rw:z:rshared", "/srv:/srv:rw,z,rshared"],
    ["data:/data:ro", "data:/data:ro"],
    ["/srv/x:/x", "/srv/x:/x"],
  ];
  for (const [spec, bind] of binds) {
    const v = parseVolume(spec);
    assert.equal(v.kind === "bind" ? v.bind : v.kind, bind, spec);
  }
});

Deno.test("a device permission other than r, w and m fails the job naming the key", () => {
  for (
    const spec of ["/dev/fuse:/dev/fuse:rwz", "/dev/fuse:/dev/fuse:x", "/dev/fuse:/dev/fuse:rr"]
  ) {
    assert.throws(() => buildHostConfig({ ...base(), devices: [spec] }), (err: unknown) => {
      assert.ok(err instanceof JobFailedError);
      assert.equal(err.reason, "runner_configuration_error");
      assert.equal(
        err.message,
        `Invalid [runners.docker] devices "${spec}": the permissions may hold r, w and m, ` +
          "each once (as docker run --device)",
      );
      return true;
    });
  }
  assert.throws(
    () => serviceHostConfig({ ...base(), servicesDevices: { "*": ["/dev/a:/dev/a:rwx"] } }, "svc"),
    /Invalid \[runners.docker\] services_devices "\/dev\/a:\/dev\/a:rwx"/,
  );
  assert.equal(parseDevice("/dev/fuse:/dev/fuse:mr").CgroupPermissions, "mr");
  assert.equal(parseDevice("/dev/fuse").CgroupPermissions, "rwm");
});

Deno.test("a tmpfs or services_tmpfs mount point that is not absolute fails the job naming the key", () => {
  for (const path of ["relative", "", "tmp/x"]) {
    assert.throws(
      () => buildHostConfig({ ...base(), tmpfs: { [path]: "rw" } }),
      new RegExp(`^JobFailedError: Invalid \\[runners.docker\\] tmpfs "${path}": `),
    );
    assert.throws(
      () => serviceHostConfig({ ...base(), servicesTmpfs: { [path]: "" } }, "svc"),
      (err: unknown) =>
        err instanceof JobFailedError && err.reason === "runner_configuration_error" &&
        err.message ===
          `Invalid [runners.docker] services_tmpfs "${path}": a mount point must be an absolute path`,
    );
  }
  assert.deepEqual(buildHostConfig({ ...base(), tmpfs: { "/t": "rw,size=1m" } })["Tmpfs"], {
    "/t": "rw,size=1m",
  });
});
