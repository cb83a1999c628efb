import assert from "node:assert/strict";
import { parseConfig } from "./parse_config.ts";
import { FEATURE_FLAG_DEFAULTS, IMPLEMENTED_FEATURE_FLAGS } from "../build/feature_flags.ts";
import { ConfigError, formatConfigProblem } from "./config_error.ts";
import { OFFICIAL_CONFIG_TOML } from "./_sample_configs.ts";

const opts = { file: "/etc/gitlab-runner/config.toml", env: {} };

function loadError(text: string, env: Record<string, string> = {}): ConfigError {
  try {
    parseConfig(text, { ...opts, env });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error;
  }
  assert.fail("expected the config to be rejected");
}

/** Warnings other than the missing executor of the minimal entries these tests write. */
function besidesExecutor<T extends { kind: string }>(warnings: T[]): T[] {
  return warnings.filter((w) => w.kind !== "unsupported_executor");
}

Deno.test("an official runner's config.toml loads with every value as written", () => {
  const { config, warnings } = parseConfig(OFFICIAL_CONFIG_TOML, opts);
  assert.equal(config.concurrent, 4);
  assert.equal(config.checkInterval, 3, "check_interval = 0 means 3");
  assert.equal(config.shutdownTimeout, 30, "shutdown_timeout = 0 means 30");
  assert.equal(config.logLevel, "warn");
  // The web terminal's server is modelled: no warning, the values as written.
  assert.deepEqual(config.sessionServer, {
    listenAddress: "[::]:8093",
    advertiseAddress: "runner.example.com:8093",
    sessionTimeout: 1800,
  });
  assert.equal(config.runners.length, 2);
  const [docker, shell] = config.runners;
  assert.ok(docker && shell);
  assert.equal(docker.name, "docker-runner-01");
  assert.equal(docker.url, "https://gitlab.example.com");
  assert.equal(docker.id, 4711);
  assert.equal(docker.token, "glrt-t1_AbCdEfGhIjKlMnOpQrSt");
  assert.equal(docker.tokenObtainedAt, "2024-05-13T10:20:30Z");
  assert.equal(docker.tokenExpiresAt, "0001-01-01T00:00:00Z");
  assert.equal(docker.executor, "docker");
  assert.equal(docker.limit, 2);
  assert.equal(docker.outputLimit, 8192);
  assert.deepEqual(docker.environment, ["DOCKER_DRIVER=overlay2", "GIT_DEPTH=10"]);
  assert.equal(docker.cache.type, "s3");
  assert.equal(docker.cache.shared, true);
  assert.equal(docker.cache.s3.serverAddress, "minio.example.com:9000");
  assert.equal(docker.cache.s3.bucketName, "runner-cache");
  assert.equal(docker.cache.s3.insecure, true);
  assert.equal(docker.cache.s3.dualStack, true);
  assert.equal(docker.docker.image, "alpine:3.20");
  assert.deepEqual(docker.docker.volumes, ["/cache", "/var/run/docker.sock:/var/run/docker.sock"]);
  assert.equal(docker.docker.shmSize, 268435456);
  assert.deepEqual(docker.docker.pullPolicy, ["always", "if-not-present"]);
  assert.deepEqual(docker.docker.allowedPullPolicies, ["always", "if-not-present"]);
  assert.deepEqual(docker.docker.tmpfs, { "/var/lib/mysql": "rw,noexec" });
  assert.deepEqual(docker.featureFlags, { FF_NETWORK_PER_BUILD: true, FF_TIMESTAMPS: false });
  assert.equal(docker.safeDirectoryCheckout, true);
  assert.equal(docker.customBuildDirEnabled, true);
  assert.equal(docker.cleanGitConfig, true);
  assert.deepEqual(docker.unsupported["kubernetes"], {
    namespace: "ci",
    "node_selector": { "kubernetes.io/os": "linux" },
  });

  assert.equal(shell.executor, "shell");
  assert.equal(shell.shell, "bash");
  assert.equal(shell.buildsDir, "/srv/builds");
  assert.equal(shell.unhealthyInterval, 1800);
  assert.equal(shell.tokenExpiresAt, "2025-06-01T08:00:00Z");
  assert.equal(shell.safeDirectoryCheckout, false);
  assert.equal(shell.cleanGitConfig, false);
  assert.equal(shell.customBuildDirEnabled, false);
  assert.equal(shell.outputLimit, 4096);

  // Only the kubernetes subtree is worth a warning; the empty gcs/azure tables are not.
  assert.deepEqual(warnings.map((w) => w.message), [
    "key runners.kubernetes is accepted but not supported",
    "key runners[0].feature_flags.FF_NETWORK_PER_BUILD = true is not supported by this runner and has no effect",
  ]);
  assert.equal(warnings[0]?.line, 52);
});

Deno.test("an empty file gives every default", () => {
  const { config, warnings } = parseConfig("", opts);
  assert.deepEqual(warnings, []);
  assert.equal(config.concurrent, 1);
  assert.equal(config.checkInterval, 3);
  assert.equal(config.shutdownTimeout, 30);
  assert.equal(config.logLevel, "info");
  assert.equal(config.logFormat, "runner");
  assert.equal(config.listenAddress, "");
  assert.deepEqual(config.runners, []);
});

Deno.test("a runner entry gets the documented defaults", () => {
  const { config } = parseConfig(
    `[[runners]]\nname = "x"\nurl = "https://gitlab.example.com"\ntoken = "glrt-x"\nexecutor = "ssh"\n`,
    opts,
  );
  const runner = config.runners[0];
  assert.ok(runner);
  assert.equal(runner.requestConcurrency, 1);
  assert.equal(runner.outputLimit, 4096);
  assert.equal(runner.unhealthyRequestsLimit, 3);
  assert.equal(runner.unhealthyInterval, 3600);
  assert.equal(runner.jobStatusFinalUpdateRetryLimit, 10);
  assert.equal(runner.ssh.port, "22");
  assert.equal(runner.custom.configExecTimeout, 3600);
  assert.equal(runner.custom.gracefulKillTimeout, 600);
  assert.equal(runner.custom.forceKillTimeout, 10);
  assert.deepEqual(runner.docker.pullPolicy, ["always"]);
  assert.equal(runner.docker.waitForServicesTimeout, 30);
  assert.equal(runner.safeDirectoryCheckout, false);
  assert.equal(runner.cleanGitConfig, true, "clean_git_config is only off for shell");
  assert.equal(runner.tokenObtainedAt, "0001-01-01T00:00:00Z");
});

Deno.test("values at or below zero fall back to the default where documented", () => {
  const { config } = parseConfig(
    `check_interval = -1\nshutdown_timeout = 0\n[[runners]]\nrequest_concurrency = 0\n` +
      `output_limit = 0\nunhealthy_requests_limit = -3\n[runners.custom]\nforce_kill_timeout = 0\n` +
      `[runners.docker]\nwait_for_services_timeout = -1\n`,
    opts,
  );
  assert.equal(config.checkInterval, 3);
  assert.equal(config.shutdownTimeout, 30);
  const runner = config.runners[0];
  assert.ok(runner);
  assert.equal(runner.requestConcurrency, 1);
  assert.equal(runner.outputLimit, 4096);
  assert.equal(runner.unhealthyRequestsLimit, 3);
  assert.equal(runner.custom.forceKillTimeout, 10);
  assert.equal(runner.docker.waitForServicesTimeout, -1, "-1 disables waiting");
});

Deno.test("unhealthy_interval below a second is kept, as the official runner keeps it", () => {
  // It fell back to the 1h default: "0s", asked so that a failing runner is
  // never paused, paused it for an hour; "500ms" too.
  const { config } = parseConfig(
    `[[runners]]\nunhealthy_interval = "0s"\n[[runners]]\nunhealthy_interval = "500ms"\n` +
      `[[runners]]\n`,
    opts,
  );
  assert.deepEqual(config.runners.map((r) => r.unhealthyInterval), [0, 0.5, 3600]);
});

Deno.test("a duration written as an integer below a millisecond loads as nanoseconds with a warning naming the key", () => {
  // Read as the official runner reads it, prepare_timeout = 300 timed every
  // job's preparation out at once, without a word at load.
  const { config, warnings } = parseConfig(
    `[[runners]]\nprepare_timeout = 300\nget_sources_timeout = 60000000000\n` +
      `unhealthy_interval = 0\n`,
    opts,
  );
  assert.equal(config.runners[0]?.prepareTimeout, 300e-9);
  assert.equal(config.runners[0]?.getSourcesTimeout, 60);
  assert.deepEqual(besidesExecutor(warnings).map((w) => [w.kind, formatConfigProblem(w)]), [[
    "duration_nanoseconds",
    "/etc/gitlab-runner/config.toml:2: key runners[0].prepare_timeout = 300 is 300 nanoseconds: " +
    'an integer duration counts nanoseconds, as in the official runner; write "300s" for seconds',
  ]]);
});

Deno.test("concurrent = 0 is fatal and names file, line and key", () => {
  const error = loadError(`check_interval = 3\nconcurrent = 0\n`);
  assert.equal(error.line, 2);
  assert.equal(error.key, "concurrent");
  assert.equal(
    error.message,
    "/etc/gitlab-runner/config.toml:2: key concurrent must be 1 or more, got 0",
  );
});

Deno.test("malformed TOML is an error naming the file and line", () => {
  const error = loadError(`concurrent = 2\n\n[[runners]]\nname = "a"\nlimit = = 3\n`);
  assert.equal(error.line, 5);
  assert.match(
    error.message,
    /^\/etc\/gitlab-runner\/config\.toml:5: Invalid TOML at column \d+: /,
  );
});

Deno.test("a key or table defined twice is an error naming it and its second line", () => {
  const cases: [string, string][] = [
    [`concurrent = 2\nconcurrent = 3\n`, ":2: Invalid TOML at column 1: key concurrent is already"],
    [
      `[[runners]]\n  name = "a"\n  [runners.docker]\n  [runners.docker]\n`,
      ":4: Invalid TOML at column 4: table [runners.docker] is already",
    ],
    [
      `[session_server]\n[session_server]\n`,
      ":2: Invalid TOML at column 2: table [session_server] is",
    ],
  ];
  for (const [text, expected] of cases) {
    assert.ok(loadError(text).message.includes(expected), `${loadError(text).message}`);
  }
});

Deno.test("a value of the wrong type names file, line and key, in the right runner entry", () => {
  const text = `concurrent = 2

[[runners]]
  name = "first"
  limit = 1
  [runners.docker]
    image = "alpine"

[[runners]]
  name = "second"
  limit = "abc"
`;
  const error = loadError(text);
  assert.equal(error.line, 11);
  assert.equal(error.key, "runners[1].limit");
  assert.equal(
    error.message,
    `/etc/gitlab-runner/config.toml:11: key runners[1].limit must be an integer, got "abc"`,
  );
});

Deno.test("a wrong type inside a sub-table of the second runner points at its line", () => {
  const text = `[[runners]]
  name = "first"
  [runners.docker]
    privileged = false
[[runners]]
  name = "second"
  [runners.docker]
    image = "alpine"
    privileged = "yes"
`;
  const error = loadError(text);
  assert.equal(error.line, 9);
  assert.equal(error.key, "runners[1].docker.privileged");
  assert.match(error.message, /must be true or false, got "yes"/);
});

Deno.test("every invalid value is listed in problems", () => {
  const error = loadError(
    `concurrent = "many"\nlog_level = "loud"\n[[runners]]\nunhealthy_interval = "1 hour"\n`,
  );
  assert.deepEqual(error.problems.map((p) => [p.line, p.key]), [
    [1, "concurrent"],
    [2, "log_level"],
    [4, "runners[0].unhealthy_interval"],
  ]);
  assert.match(error.message, /\(and 2 more problems\)$/);
  assert.match(
    formatConfigProblem(error.problems[2]!),
    /:4: key runners\[0\]\.unhealthy_interval must be a duration/,
  );
});

Deno.test("[runners] written as a single table is rejected with a hint", () => {
  const error = loadError(`[runners]\nname = "x"\n`);
  assert.equal(error.line, 1);
  assert.match(error.message, /must be an array of tables \(\[\[runners\]\]\)/);
});

Deno.test("an unknown key is a warning with its line, and kept", () => {
  const { config, warnings } = parseConfig(
    `concurrent = 1\n[[runners]]\nname = "x"\nbuild_dir = "/b"\n[runners.docker]\nimagee = "a"\n`,
    opts,
  );
  assert.deepEqual(
    besidesExecutor(warnings).map((w) => [w.kind, w.line, w.message]),
    [
      ["unknown_key", 4, "key runners[0].build_dir is unknown and ignored"],
      ["unknown_key", 6, "key runners[0].docker.imagee is unknown and ignored"],
    ],
  );
  assert.deepEqual(config.runners[0]?.unsupported, { "build_dir": "/b", "docker.imagee": "a" });
  assert.equal(config.runners[0]?.buildsDir, "");
});

Deno.test("P3 keys are accepted with one warning per key per load", () => {
  const text = `sentry_dsn = "https://key@sentry.example.com/1"
[[runners]]
  proxy_exec = true
  [runners.docker]
    mac_address = "02:42:ac:11:00:02"
  [runners.parallels]
    base_name = "macos"
[[runners]]
  proxy_exec = false
  [runners.parallels]
    base_name = "macos-2"
`;
  const { config, warnings } = parseConfig(text, opts);
  assert.deepEqual(besidesExecutor(warnings).map((w) => [w.kind, w.line, w.message]), [
    ["unsupported_key", 1, "key sentry_dsn is accepted but not supported"],
    ["unsupported_key", 3, "key runners.proxy_exec is accepted but not supported"],
    ["unsupported_key", 5, "key runners.docker.mac_address is accepted but not supported"],
    ["unsupported_key", 6, "key runners.parallels is accepted but not supported"],
  ]);
  assert.equal(config.unsupported["sentry_dsn"], "https://key@sentry.example.com/1");
  assert.deepEqual(config.runners[1]?.unsupported, {
    "proxy_exec": false,
    parallels: { "base_name": "macos-2" },
  });
});

Deno.test("a wrong type in an unsupported key is a warning, never a load error", () => {
  const { warnings } = parseConfig(
    `[[runners]]\n[runners.virtualbox]\ndisable_snapshots = "yes"\n`,
    opts,
  );
  assert.deepEqual(besidesExecutor(warnings).map((w) => w.kind), [
    "unsupported_value",
    "unsupported_key",
  ]);
  assert.match(
    besidesExecutor(warnings)[0]?.message ?? "",
    /runners\[0\]\.virtualbox\.disable_snapshots must be true or false/,
  );
});

Deno.test("keys are matched exactly first, then ignoring case with a warning", () => {
  const { config, warnings } = parseConfig(
    `Concurrent = 5\n[[runners]]\n[runners.cache]\ntype = "s3"\n[runners.cache.s3]\nbucketname = "b"\n`,
    opts,
  );
  assert.equal(config.concurrent, 5);
  assert.equal(config.runners[0]?.cache.type, "s3");
  assert.equal(config.runners[0]?.cache.s3.bucketName, "b");
  assert.deepEqual(besidesExecutor(warnings).map((w) => [w.kind, w.line]), [["key_case", 1], [
    "key_case",
    4,
  ], [
    "key_case",
    6,
  ]]);
  assert.match(
    besidesExecutor(warnings)[1]?.message ?? "",
    /runners\[0\]\.cache\.type matches "Type" only when ignoring case/,
  );
});

Deno.test("durations accept Go strings; int-seconds keys take integers", () => {
  const { config } = parseConfig(
    `[[runners]]\nunhealthy_interval = "90s"\nprepare_timeout = "15m"\n` +
      `get_sources_timeout = "500ms"\n`,
    opts,
  );
  const runner = config.runners[0];
  assert.equal(runner?.unhealthyInterval, 90);
  assert.equal(runner?.prepareTimeout, 900);
  assert.equal(runner?.getSourcesTimeout, 0.5);
  const error = loadError(`check_interval = "3s"\n`);
  assert.equal(
    error.message,
    `/etc/gitlab-runner/config.toml:1: key check_interval must be an integer, got "3s"`,
  );
});

Deno.test("integer keys take Go's whole int64 range: 9223372036854775807 is no limit", () => {
  // smol-toml refused the whole file ("integer value cannot be represented
  // losslessly") where the official runner takes any int64.
  const { config, warnings } = parseConfig(
    `concurrent = 9223372036854775807
check_interval = -9223372036854775808
[[runners]]
executor = "shell"
output_limit = 9223372036854775807
prepare_timeout = 9223372036854775807
[runners.cache]
Type = "s3"
MaxUploadedArchiveSize = 9223372036854775807
[runners.cache.s3]
BucketName = "b"
[runners.custom]
config_exec_timeout = 0x7fffffffffffffff
[runners.kubernetes]
cpu_limit_overwrite_max_allowed = [1, -9223372036854775808]
pod_labels = { big = 9223372036854775807 }
`,
    opts,
  );
  assert.equal(config.concurrent, Number.MAX_SAFE_INTEGER);
  assert.equal(config.checkInterval, 3, "below 1: the default, as for -1");
  const runner = config.runners[0]!;
  assert.equal(runner.outputLimit, Number.MAX_SAFE_INTEGER);
  assert.equal(runner.cache.maxUploadedArchiveSize, Number.MAX_SAFE_INTEGER);
  assert.equal(runner.custom.configExecTimeout, Number.MAX_SAFE_INTEGER);
  // An integer duration counts nanoseconds: int64's are 292 years.
  assert.equal(Math.round(runner.prepareTimeout), 9223372037);
  // Nothing about the integers themselves (the custom section warns it is not shell's).
  assert.deepEqual(
    warnings.filter((w) => w.message.includes("9223372036854775807")),
    [],
  );
});

Deno.test("an integer beyond int64 refuses the file, naming key and line, in arrays and inline tables too", () => {
  const error = loadError(
    `concurrent = 9223372036854775808
[[runners]]
[runners.kubernetes]
sizes = [1, -9223372036854775809]
labels = { big = 99999999999999999999 }
`,
  );
  const range = "is out of range: TOML integers are 64-bit " +
    "(-9223372036854775808 to 9223372036854775807)";
  assert.deepEqual(error.problems.map((p) => formatConfigProblem(p)), [
    `/etc/gitlab-runner/config.toml:1: key concurrent = 9223372036854775808 ${range}`,
    `/etc/gitlab-runner/config.toml:4: key runners[0].kubernetes.sizes = -9223372036854775809 ${range}`,
    `/etc/gitlab-runner/config.toml:5: key runners[0].kubernetes.labels.big = 99999999999999999999 ${range}`,
  ]);
});

Deno.test("a runner id beyond 2^53 warns that commands naming it by id use another one", () => {
  const { config, warnings } = parseConfig(
    `[[runners]]\nexecutor = "shell"\nid = 9223372036854775807\n`,
    opts,
  );
  assert.equal(config.runners[0]?.id, Number.MAX_SAFE_INTEGER);
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.key]), [
    ["clamped_integer", 3, "runners[0].id"],
  ]);
  assert.match(warnings[0]!.message, /id = 9223372036854775807 is beyond 9007199254740991/);
});

Deno.test("a float key given an integer a float cannot hold exactly says so, naming the key", () => {
  // The official decoder refuses it; [runners.machine] is kept as written and warned about.
  const { warnings } = parseConfig(
    `[[runners]]\nexecutor = "shell"\n[runners.machine]\nIdleScaleFactor = 9007199254740993\n`,
    opts,
  );
  assert.deepEqual(
    warnings.filter((w) => w.kind === "unsupported_value").map((w) => [w.line, w.message]),
    [[
      4,
      "key runners[0].machine.IdleScaleFactor must be a number, got 9007199254740993: " +
      "out of range for a float (beyond ±9007199254740991)",
    ]],
  );
});

Deno.test("an integer key refuses a float too large to be an exact integer, naming the key", () => {
  // smol-toml refuses such integers itself; written as floats they passed as
  // integers, and `output_limit = 1e99` then failed every job at its start.
  const error = loadError(
    `concurrent = 1e16\n[[runners]]\noutput_limit = 1e99\nunhealthy_interval = -1e30\n`,
  );
  const why = "a float this large is not an exact integer: write the integer itself " +
    "(at most 9223372036854775807)";
  assert.deepEqual(error.problems.map((p) => formatConfigProblem(p)), [
    "/etc/gitlab-runner/config.toml:1: key concurrent must be an integer, " +
    `got 10000000000000000: ${why}`,
    "/etc/gitlab-runner/config.toml:3: key runners[0].output_limit must be an integer, " +
    `got 1e+99: ${why}`,
    "/etc/gitlab-runner/config.toml:4: key runners[0].unhealthy_interval must be a duration " +
    `such as "90s" or "1h30m", got -1e+30: ${why}`,
  ]);
  // The largest exact integers still load (an int64 in Go).
  const { config } = parseConfig(`[[runners]]\noutput_limit = 9007199254740991\n`, opts);
  assert.equal(config.runners[0]?.outputLimit, Number.MAX_SAFE_INTEGER);
});

Deno.test("pull_policy accepts a string or an array", () => {
  const one = parseConfig(`[[runners]]\n[runners.docker]\npull_policy = "if-not-present"\n`, opts);
  assert.deepEqual(one.config.runners[0]?.docker.pullPolicy, ["if-not-present"]);
  const many = parseConfig(
    `[[runners]]\n[runners.docker]\npull_policy = ["never", "always"]\nallowed_pull_policies = ["never"]\n`,
    opts,
  );
  assert.deepEqual(many.config.runners[0]?.docker.pullPolicy, ["never", "always"]);
  assert.deepEqual(many.config.runners[0]?.docker.allowedPullPolicies, ["never"]);
  const error = loadError(`[[runners]]\n[runners.docker]\npull_policy = [1]\n`);
  assert.match(
    error.message,
    /:3: key runners\[0\]\.docker\.pull_policy must be a string or an array of strings/,
  );
});

Deno.test("$VAR and ${VAR} expand only in url and token, from the given env", () => {
  const env = { GITLAB_HOST: "gitlab.example.com", RUNNER_TOKEN: "glrt-secret123456" };
  const { config } = parseConfig(
    `[[runners]]\nname = "$GITLAB_HOST"\nurl = "https://\${GITLAB_HOST}"\ntoken = "$RUNNER_TOKEN"\n` +
      `builds_dir = "$HOME/builds"\n`,
    { ...opts, env },
  );
  const runner = config.runners[0];
  assert.equal(runner?.url, "https://gitlab.example.com");
  assert.equal(runner?.token, "glrt-secret123456");
  assert.equal(runner?.name, "$GITLAB_HOST");
  assert.equal(runner?.buildsDir, "$HOME/builds");
  assert.deepEqual(runner?.envExpansion, {
    url: { template: "https://${GITLAB_HOST}", value: "https://gitlab.example.com" },
    token: { template: "$RUNNER_TOKEN", value: "glrt-secret123456" },
  });
  const unset = parseConfig(`[[runners]]\ntoken = "$NOT_SET"\n`, opts);
  assert.equal(unset.config.runners[0]?.token, "");
});

Deno.test("a trailing /ci is stripped from the url with a warning", () => {
  const { config, warnings } = parseConfig(
    `[[runners]]\nurl = "https://gitlab.example.com/ci"\n`,
    opts,
  );
  assert.equal(config.runners[0]?.url, "https://gitlab.example.com");
  assert.equal(warnings[0]?.kind, "url_ci_suffix");
  assert.equal(warnings[0]?.line, 2);
});

Deno.test("safe_directory_checkout, clean_git_config and custom_build_dir depend on the executor unless set", () => {
  const { config } = parseConfig(
    `[[runners]]\nexecutor = "kubernetes"\n[[runners]]\nexecutor = "shell"\nsafe_directory_checkout = true\n` +
      `clean_git_config = true\n[runners.custom_build_dir]\nenabled = true\n[[runners]]\nexecutor = "docker"\n` +
      `safe_directory_checkout = false\n`,
    opts,
  );
  const [k8s, shell, docker] = config.runners;
  assert.deepEqual([k8s?.safeDirectoryCheckout, k8s?.cleanGitConfig, k8s?.customBuildDirEnabled], [
    true,
    true,
    true,
  ]);
  assert.deepEqual([
    shell?.safeDirectoryCheckout,
    shell?.cleanGitConfig,
    shell?.customBuildDirEnabled,
  ], [true, true, true]);
  assert.deepEqual([docker?.safeDirectoryCheckout, docker?.customBuildDirEnabled], [false, true]);
});

Deno.test("keys nothing acts on yet warn by name and are kept for saving", () => {
  const { config, warnings } = parseConfig(
    `sentry_dsn = "https://key@sentry.example.com/1"\n[session_server]\nlisten_address = "0.0.0.0:8093"\n` +
      `[[runners]]\nexecutor = "shell"\n` +
      `[runners.machine]\nIdleCount = 2\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => w.message), [
    "key sentry_dsn is accepted but not supported",
    "key runners.machine is accepted but not supported",
  ]);
  assert.equal(config.sessionServer.listenAddress, "0.0.0.0:8093", "[session_server] acts");
  assert.equal(config.unsupported["sentry_dsn"], "https://key@sentry.example.com/1");
  assert.deepEqual(config.runners[0]?.unsupported["machine"], { "IdleCount": 2 });
});

Deno.test("[runners.artifact] deadlines are read without a warning, 1h and 10m when absent", () => {
  const { config, warnings } = parseConfig(
    `[[runners]]\nexecutor = "shell"\n[runners.artifact]\nupload_timeout = "2h"\n` +
      `response_header_timeout = "0s"\n[[runners]]\nexecutor = "shell"\n`,
    opts,
  );
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.runners[0]?.artifact, { uploadTimeout: 7200, responseHeaderTimeout: 0 });
  assert.deepEqual(config.runners[1]?.artifact, {
    uploadTimeout: 3600,
    responseHeaderTimeout: 600,
  });
});

Deno.test("global labels are combined with each runner's, the runner's winning", () => {
  const { config } = parseConfig(
    `[labels]\nteam = "ci"\nzone = "eu"\n[[runners]]\nexecutor = "shell"\n[runners.labels]\nzone = "us"\n`,
    opts,
  );
  assert.deepEqual(config.runners[0]?.combinedLabels, { team: "ci", zone: "us" });
  assert.deepEqual(config.runners[0]?.labels, { zone: "us" }, "saved as written");
});

Deno.test("docker services are read with their own defaults", () => {
  const { config } = parseConfig(
    `[[runners]]\n[runners.docker]\n[[runners.docker.services]]\nname = "postgres:16"\nalias = "db"\n` +
      `[[runners.docker.services]]\nname = "redis"\nsuspend_data_path = "/data"\n`,
    opts,
  );
  const services = config.runners[0]?.docker.services;
  assert.equal(services?.length, 2);
  assert.deepEqual(services?.[0], {
    name: "postgres:16",
    alias: "db",
    entrypoint: [],
    command: [],
    environment: [],
    unsupported: {},
  });
  assert.deepEqual(services?.[1]?.unsupported, { "suspend_data_path": "/data" });
});

Deno.test("feature flags must be booleans; labels must be strings", () => {
  const error = loadError(`[[runners]]\n[runners.feature_flags]\nFF_TIMESTAMPS = "yes"\n`);
  assert.equal(error.line, 2);
  assert.match(
    error.message,
    /feature_flags must be a table of true\/false values, but "FF_TIMESTAMPS" is "yes"/,
  );
});

Deno.test("an entry whose executor this runner lacks is a warning naming runner and executor", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "k"\nexecutor = "kubernetes"\n[[runners]]\nname = "s"\nexecutor = "shell"\n` +
      `[[runners]]\nname = "none"\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "unsupported_executor",
      3,
      'key runners[0].executor names "kubernetes", an executor this runner does not have: ' +
      'runner "k" never asks for jobs (supported: shell, docker, ssh, docker+ssh, custom)',
    ],
    [
      "unsupported_executor",
      7,
      'key runners[2].executor is not set: runner "none" never asks for jobs ' +
      "(supported: shell, docker, ssh, docker+ssh, custom)",
    ],
  ]);
});

Deno.test("a custom entry without run_exec is a warning naming the key: every job of it would fail", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "c"\nexecutor = "custom"\n` +
      `[[runners]]\nname = "ok"\nexecutor = "custom"\n[runners.custom]\nrun_exec = "/d/run.sh"\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "missing_key",
      3,
      'key runners[0].custom.run_exec is not set: every job of runner "c" fails ' +
      '("custom executor is missing run_exec")',
    ],
  ]);
});

Deno.test("an entry whose url no request can go to is a warning naming runner, key and value; one without a token is not checked", () => {
  const entry = (name: string, url: string, token = "glrt-abc") =>
    `[[runners]]\nname = "${name}"\nurl = "${url}"\ntoken = "${token}"\nexecutor = "shell"\n`;
  const { warnings } = parseConfig(
    entry("word", "gitlab.example.com") + entry("ftp", "ftp://gitlab.example.com") +
      entry("env", "$NO_SUCH_URL") + entry("port", "https://gitlab.example.com:99999") +
      entry("good", "https://gitlab.example.com/") + entry("untokened", "x", ""),
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "invalid_url",
      3,
      'key runners[0].url "gitlab.example.com" is not an absolute http or https URL: ' +
      'runner "word" never asks for jobs',
    ],
    [
      "invalid_url",
      8,
      'key runners[1].url "ftp://gitlab.example.com" is not an absolute http or https URL: ' +
      'runner "ftp" never asks for jobs',
    ],
    [
      "invalid_url",
      13,
      'key runners[2].url "" (from "$NO_SUCH_URL") is not an absolute http or https URL: ' +
      'runner "env" never asks for jobs',
    ],
    [
      "invalid_url",
      18,
      'key runners[3].url "https://gitlab.example.com:99999" is not an absolute http or https ' +
      'URL: runner "port" never asks for jobs',
    ],
  ]);
});

Deno.test("entries with the same url and token are a warning naming the one whose settings are not used", () => {
  const entry = (name: string, executor: string, token = "glrt-same") =>
    `[[runners]]\nname = "${name}"\nurl = "https://gitlab.example.com"\ntoken = "${token}"\n` +
    `executor = "${executor}"\n`;
  const { warnings } = parseConfig(
    entry("a", "shell") + entry("b", "docker") + entry("other", "shell", "glrt-other") +
      // Never asks for jobs: it does not hide "b".
      entry("k", "kubernetes"),
    opts,
  );
  assert.deepEqual(
    besidesExecutor(warnings).map((w) => [w.kind, w.line, w.message]),
    [[
      "duplicate_runner",
      4,
      'key runners[0].token: runners[0] ("a") and runners[1] ("b") have the same url and token, ' +
      "one runner to GitLab; only the settings of runners[1] are used",
    ]],
  );
});

Deno.test("a distributed cache on a custom executor entry is a warning naming the key; other executors take it", () => {
  const cache =
    `[runners.cache]\nType = "s3"\n[runners.cache.s3]\nServerAddress = "s3.example.com"\n` +
    `BucketName = "b"\nAccessKey = "a"\nSecretKey = "s"\n`;
  const { warnings } = parseConfig(
    `[[runners]]\nname = "c"\nexecutor = "custom"\n[runners.custom]\nrun_exec = "/bin/true"\n${cache}` +
      `[[runners]]\nname = "d"\nexecutor = "docker"\n${cache}`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "unsupported_value",
      7,
      'key runners[0].cache.Type = "s3" is not supported with the custom executor: ' +
      "its jobs keep their cache in cache_dir on this host",
    ],
  ]);
  // The official internal names are the same backends.
  for (const type of ["s3v2", "gcsv2"]) {
    const { warnings } = parseConfig(
      `[[runners]]\nname = "c"\nexecutor = "custom"\n[runners.custom]\nrun_exec = "/bin/true"\n` +
        `[runners.cache]\nType = "${type}"\n`,
      opts,
    );
    assert.deepEqual(warnings.map((w) => w.message), [
      `key runners[0].cache.Type = "${type}" is not supported with the custom executor: ` +
      "its jobs keep their cache in cache_dir on this host",
    ]);
  }
});

Deno.test("a [runners.cache] Type that is no cache type (wrong case, unknown) warns at load naming it", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "shell"\n[runners.cache]\nType = "S3"\n` +
      `[[runners]]\nname = "b"\nexecutor = "shell"\n[runners.cache]\nType = "minio"\n` +
      `[[runners]]\nname = "c"\nexecutor = "shell"\n[runners.cache]\nType = "s3v2"\n` +
      `[runners.cache.s3]\nBucketName = "b"\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "unsupported_value",
      5,
      'key runners[0].cache.Type = "S3" is not a cache type (use "s3", "gcs" or "azure"): ' +
      "its jobs keep their cache in cache_dir on this host",
    ],
    [
      "unsupported_value",
      10,
      'key runners[1].cache.Type = "minio" is not a cache type (use "s3", "gcs" or "azure"): ' +
      "its jobs keep their cache in cache_dir on this host",
    ],
  ]);
});

Deno.test("a distributed cache section without [runners.cache] Type warns that it is not used; the empty sections register writes do not", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "shell"\n[runners.cache]\n[runners.cache.s3]\n` +
      `ServerAddress = "minio:9000"\nBucketName = "runner-cache"\n` +
      `[[runners]]\nname = "b"\nexecutor = "shell"\n[runners.cache]\n[runners.cache.azure]\n` +
      `AccountName = "acct"\nContainerName = "c"\n` +
      `[[runners]]\nname = "c"\nexecutor = "shell"\n[runners.cache]\n` +
      `[runners.cache.s3]\n[runners.cache.gcs]\n[runners.cache.azure]\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "unsupported_value",
      7,
      "key runners[0].cache.s3.BucketName is not used: [runners.cache] Type is not set, " +
      'so jobs keep their cache in cache_dir on this host (set Type = "s3" to use it)',
    ],
    [
      "unsupported_value",
      14,
      "key runners[1].cache.azure.ContainerName is not used: [runners.cache] Type is not set, " +
      'so jobs keep their cache in cache_dir on this host (set Type = "azure" to use it)',
    ],
  ]);
});

Deno.test("a negative [runners.cache] MaxUploadedArchiveSize warns at load that no limit applies", () => {
  const { config, warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "shell"\n[runners.cache]\nType = "s3"\n` +
      `MaxUploadedArchiveSize = -1\n[runners.cache.s3]\nBucketName = "b"\n`,
    opts,
  );
  assert.equal(config.runners[0]?.cache.maxUploadedArchiveSize, -1);
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "unsupported_value",
      6,
      "key runners[0].cache.MaxUploadedArchiveSize = -1 is negative: no limit applies, as with 0 " +
      "(set a size in bytes to limit uploads)",
    ],
  ]);
});

Deno.test("a [runners.cache] setting nothing reads, given the rest of the section, warns at load naming it", () => {
  const entry = (name: string, cache: string) =>
    `[[runners]]\nname = "${name}"\nexecutor = "shell"\n[runners.cache]\n${cache}`;
  const { warnings } = parseConfig(
    entry("local", `Path = "ci"\nShared = true\nMaxUploadedArchiveSize = 10\n`) +
      entry(
        "iam",
        `Type = "s3"\n[runners.cache.s3]\nBucketName = "b"\nAuthenticationType = "iam"\n` +
          `AccessKey = "a"\nSecretKey = "s"\nSessionToken = "t"\nServerSideEncryption = "S3"\n` +
          `ServerSideEncryptionKeyID = "k"\nServerAddress = "minio:9000"\nAccelerate = true\n` +
          `AssumeRoleMaxConcurrency = 2\nDisableAssumeRoleCredentialsCaching = true\n`,
      ) +
      entry("half", `Type = "s3"\n[runners.cache.s3]\nBucketName = "b"\nAccessKey = "a"\n`) +
      entry(
        "gcs",
        `Type = "gcs"\n[runners.cache.s3]\nServerAddress = "minio:9000"\n[runners.cache.gcs]\n` +
          `BucketName = "b"\nCredentialsFile = "/k.json"\nAccessID = "a@b"\n`,
      ) +
      // What is read says nothing: the empty sections register writes, KMS with its
      // key, the keys with access-key, Accelerate on AWS, the Type's own section.
      entry(
        "quiet",
        `Type = "s3"\nPath = "ci"\nShared = true\nMaxUploadedArchiveSize = 10\n` +
          `[runners.cache.s3]\nBucketName = "b"\nAccessKey = "a"\nSecretKey = "s"\n` +
          `ServerSideEncryption = "KMS"\nServerSideEncryptionKeyID = "k"\n` +
          `ServerAddress = "s3.amazonaws.com"\nAccelerate = true\n` +
          `[runners.cache.gcs]\n[runners.cache.azure]\n`,
      ),
    opts,
  );
  const local = "Type is not set, so jobs keep their cache in cache_dir on this host";
  const iam = 'AuthenticationType is "iam", which takes credentials from the environment or ' +
    "the instance role";
  const noRole = "neither RoleARN nor UploadRoleARN is set, so no role is assumed";
  assert.deepEqual(warnings.map((w) => [w.line, w.message]), [
    [5, `key runners[0].cache.Path is not used: [runners.cache] ${local}`],
    [6, `key runners[0].cache.Shared is not used: [runners.cache] ${local}`],
    [7, `key runners[0].cache.MaxUploadedArchiveSize is not used: [runners.cache] ${local}`],
    [16, `key runners[1].cache.s3.AccessKey is not used: ${iam}`],
    [17, `key runners[1].cache.s3.SecretKey is not used: ${iam}`],
    [18, `key runners[1].cache.s3.SessionToken is not used: ${iam}`],
    [
      20,
      'key runners[1].cache.s3.ServerSideEncryptionKeyID is not used: ServerSideEncryption is "S3": ' +
      'only "KMS" and "DSSE-KMS" take a key',
    ],
    [
      22,
      'key runners[1].cache.s3.Accelerate is not used: ServerAddress "minio:9000" is set, and ' +
      "Transfer Acceleration is AWS's own endpoint (leave ServerAddress empty to use it)",
    ],
    [23, `key runners[1].cache.s3.AssumeRoleMaxConcurrency is not used: ${noRole}`],
    [24, `key runners[1].cache.s3.DisableAssumeRoleCredentialsCaching is not used: ${noRole}`],
    [
      32,
      "key runners[2].cache.s3.AccessKey is not used: SecretKey is not set, so the credentials " +
      'come from the environment or the instance role (AuthenticationType "iam")',
    ],
    [
      39,
      'key runners[3].cache.s3.ServerAddress is not used: [runners.cache] Type is "gcs", ' +
      "which does not read [runners.cache.s3]",
    ],
    [
      43,
      "key runners[3].cache.gcs.AccessID is not used: CredentialsFile is set, and its key signs the URLs",
    ],
  ]);
});

Deno.test("an S3 DualStack = false beside a ServerAddress of its own, and PathStyle = true beside Accelerate, warn that they are not used", () => {
  const s3 = (keys: string) =>
    `[[runners]]\nexecutor = "shell"\n[runners.cache]\nType = "s3"\n[runners.cache.s3]\n` +
    `BucketName = "b"\n${keys}`;
  const { warnings } = parseConfig(
    s3(`ServerAddress = "minio:9000"\nDualStack = false\n`) +
      s3(`Accelerate = true\nPathStyle = true\n`) +
      // Both act on AWS's endpoint.
      s3(`DualStack = false\nPathStyle = true\n`),
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.line, w.message]), [
    [
      8,
      'key runners[0].cache.s3.DualStack is not used: ServerAddress "minio:9000" is set, and ' +
      "dual-stack endpoints are AWS's own (leave ServerAddress empty to use them)",
    ],
    [
      16,
      "key runners[1].cache.s3.PathStyle is not used: Accelerate is set, and its endpoint takes " +
      "the bucket in the host name",
    ],
  ]);
});

Deno.test("unsupported keys written with the official default do not warn (the official empty config)", () => {
  const text = `concurrent = 1\ncheck_interval = 0\nconnection_max_age = "15m0s"\n` +
    `shutdown_timeout = 0\n\n[session_server]\n  session_timeout = 1800\n`;
  const { config, warnings } = parseConfig(text, opts);
  assert.deepEqual(warnings, []);
  assert.equal(config.sessionServer.sessionTimeout, 1800);
  assert.equal(config.connectionMaxAge, 900, "connection_max_age acts");
  const changed = parseConfig(text.replace("1800", "600"), opts);
  assert.deepEqual(changed.warnings, [], "[session_server] acts: no warning");
  assert.equal(changed.config.sessionServer.sessionTimeout, 600);
});

Deno.test("a feature flag this runner does not act on warns by name when set off its default", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nexecutor = "shell"\n[runners.feature_flags]\nFF_NETWORK_PER_BUILD = true\n` +
      `FF_SCRIPT_SECTIONS = true\nFF_USE_FASTZIP = false\nFF_KUBERNETES_HONOR_ENTRYPOINT = true\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.line, w.message]), [
    [
      4,
      "key runners[0].feature_flags.FF_NETWORK_PER_BUILD = true is not supported by this runner and has no effect",
    ],
    [
      7,
      "key runners[0].feature_flags.FF_KUBERNETES_HONOR_ENTRYPOINT = true is not supported by this runner and has no effect",
    ],
  ]);
});

Deno.test("a feature flag name this runner does not know warns by name, whatever its value", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nexecutor = "shell"\n[runners.feature_flags]\nFF_USE_NEW_BASH_EVAL_STRATEGY = true\n` +
      `FF_SCRIPT_SECTIONS = true\nFF_SCRIPT_SECTOINS = false\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.line, w.message]), [
    [
      4,
      "key runners[0].feature_flags.FF_USE_NEW_BASH_EVAL_STRATEGY is a feature flag GitLab Runner removed and has no effect",
    ],
    [
      6,
      "key runners[0].feature_flags.FF_SCRIPT_SECTOINS is not a feature flag this runner knows and has no effect",
    ],
  ]);
});

Deno.test("an environment entry that is not KEY=VALUE warns by its index", () => {
  const { config, warnings } = parseConfig(
    `[[runners]]\nexecutor = "shell"\nenvironment = ["GOOD=1", "NOEQ", "=secret", "EMPTY="]\n`,
    opts,
  );
  assert.deepEqual(config.runners[0]?.environment, ["GOOD=1", "NOEQ", "=secret", "EMPTY="]);
  assert.deepEqual(warnings.map((w) => [w.line, w.message]), [
    [
      3,
      'key runners[0].environment[1] = "NOEQ" is not KEY=VALUE: the jobs get no variable from it',
    ],
    [3, 'key runners[0].environment[2] has no name before "=": the jobs get no variable from it'],
  ]);
});

Deno.test("an environment entry whose name the scripts cannot export warns, naming it but not its value", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nexecutor = "shell"\nenvironment = ["A B=secret", "1ABC=y", "X-Y=w", "_OK9=z"]\n`,
    opts,
  );
  const tail = "which is not a shell variable name (letters, digits and _, not starting with a " +
    "digit): the job's scripts do not export it";
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    ["unsupported_value", 3, `key runners[0].environment[0] names "A B", ${tail}`],
    ["unsupported_value", 3, `key runners[0].environment[1] names "1ABC", ${tail}`],
    ["unsupported_value", 3, `key runners[0].environment[2] names "X-Y", ${tail}`],
  ]);
  assert.ok(warnings.every((w) => !w.message.includes("secret")));
});

Deno.test("an environment entry setting a feature flag to neither true nor false warns at load, as each job does", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nexecutor = "shell"\n` +
      `environment = ["FF_USE_FASTZIP=maybe", "FF_SCRIPT_SECTIONS=1", "FF_TIMESTAMPS=$X", "FF_NOT_A_FLAG=x", "FF_TIMESTAMPS="]\n` +
      `[[runners]]\nexecutor = "shell"\nenvironment = ["FF_USE_FASTZIP=maybe"]\n` +
      `[runners.feature_flags]\nFF_USE_FASTZIP = true\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "unsupported_value",
      3,
      'key runners[0].environment[0] sets FF_USE_FASTZIP to "maybe", which is not true or false: it keeps its default, false, unless a job sets it',
    ],
    [
      "unsupported_value",
      3,
      'key runners[0].environment[4] sets FF_TIMESTAMPS to "", which is not true or false: it keeps its default, true, unless a job sets it',
    ],
  ]);
});

Deno.test("an environment entry setting a flag read only from [runners.feature_flags] off its default warns at load", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nexecutor = "shell"\n` +
      `environment = ["FF_USE_ADAPTIVE_REQUEST_CONCURRENCY=false", "FF_DISABLE_AUTOMATIC_TOKEN_ROTATION=false", "FF_DISABLE_AUTOMATIC_TOKEN_ROTATION=t"]\n` +
      `[[runners]]\nexecutor = "shell"\nenvironment = ["FF_USE_ADAPTIVE_REQUEST_CONCURRENCY=0"]\n` +
      `[runners.feature_flags]\nFF_USE_ADAPTIVE_REQUEST_CONCURRENCY = false\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "unsupported_value",
      3,
      "key runners[0].environment[0] sets FF_USE_ADAPTIVE_REQUEST_CONCURRENCY, which has no effect here: this runner reads it only from [runners.feature_flags]",
    ],
    [
      "unsupported_value",
      3,
      "key runners[0].environment[2] sets FF_DISABLE_AUTOMATIC_TOKEN_ROTATION, which has no effect here: this runner reads it only from [runners.feature_flags]",
    ],
  ]);
});

Deno.test("labels follow upstream's rules: key and value patterns, at most 32 per runner with the global ones", () => {
  const badKey = loadError(`[[runners]]\nexecutor = "shell"\n[runners.labels]\n"a b" = "x"\n`);
  assert.equal(
    formatConfigProblem(badKey.problems[0]!),
    `/etc/gitlab-runner/config.toml:4: key runners[0].labels."a b" is not a valid label key: it must match ^[a-zA-Z0-9_][a-zA-Z0-9._-]{2,64}$`,
  );
  // Keys need three characters at least, as GitLab's schema says.
  assert.match(
    loadError(`[labels]\nab = "x"\n`).message,
    /:2: key labels\.ab is not a valid label key/,
  );
  assert.match(
    loadError(`[labels]\nteam = "c i"\n`).message,
    /:2: key labels\.team is not a valid label value, got "c i": it must match \^\[a-zA-Z0-9\._-\]\{1,256\}\$/,
  );
  assert.match(
    loadError(`[labels]\nteam = ""\n`).message,
    /labels\.team is not a valid label value/,
  );
  const global = Array.from({ length: 30 }, (_, i) => `g${i}x = "v"`).join("\n");
  const own = Array.from({ length: 3 }, (_, i) => `r${i}x = "v"`).join("\n");
  const tooMany = loadError(
    `[labels]\n${global}\n[[runners]]\nexecutor = "shell"\n[runners.labels]\n${own}\n`,
  );
  assert.match(
    tooMany.message,
    /key runners\[0\]\.labels makes 33 labels for runners\[0\] with the global ones, more than the 32 allowed/,
  );
  // 32 is fine, and so is a runner overriding a global key.
  const ok =
    `[labels]\n${global}\n[[runners]]\nexecutor = "shell"\n[runners.labels]\nr0x = "v"\ng0x = "w"\n`;
  assert.equal(parseConfig(ok, opts).config.runners[0]?.combinedLabels["g0x"], "w");
});

Deno.test('S3 RoleARN and its AssumeRole settings and the Azure keys load; an UploadRoleARN beside RoleARN and an Azure section beside Type = "s3" say they are not used', () => {
  const { config, warnings } = parseConfig(
    `[[runners]]\nexecutor = "shell"\n[runners.cache]\nType = "s3"\n[runners.cache.s3]\n` +
      `BucketName = "b"\nRoleARN = "arn:aws:iam::1:role/cache"\nUploadRoleARN = "arn:x"\n` +
      `AssumeRoleMaxConcurrency = 2\nDisableAssumeRoleCredentialsCaching = true\n` +
      `[runners.cache.azure]\nAccountName = "acct"\nAccountKey = "a2V5"\nContainerName = "c"\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => w.message), [
    'key runners[0].cache.azure.ContainerName is not used: [runners.cache] Type is "s3", ' +
    "which does not read [runners.cache.azure]",
    "key runners[0].cache.s3.UploadRoleARN is not used: RoleARN is set, and it is assumed for uploads too",
  ]);
  const s3 = config.runners[0]?.cache.s3;
  assert.deepEqual(
    [s3?.roleArn, s3?.uploadRoleArn, s3?.assumeRoleMaxConcurrency],
    ["arn:aws:iam::1:role/cache", "arn:x", 2],
  );
  assert.equal(s3?.disableAssumeRoleCredentialsCaching, true);
  assert.deepEqual(config.runners[0]?.cache.azure, {
    accountName: "acct",
    accountKey: "a2V5",
    containerName: "c",
    storageDomain: "blob.core.windows.net",
  });
});

Deno.test("every listed feature flag this runner does not act on is a load warning naming it when set off its default", () => {
  const ignored = Object.keys(FEATURE_FLAG_DEFAULTS).filter((n) =>
    !IMPLEMENTED_FEATURE_FLAGS.has(n)
  );
  assert.ok(ignored.length > 0);
  const table = (value: (fallback: boolean) => boolean) =>
    `[[runners]]\nname = "ff"\nexecutor = "shell"\n[runners.feature_flags]\n` +
    Object.entries(FEATURE_FLAG_DEFAULTS).map(([n, d]) => `${n} = ${value(d)}\n`).join("");
  const { warnings } = parseConfig(table((d) => !d), opts);
  assert.deepEqual(
    warnings.map((w) => w.message),
    ignored.map((n) =>
      `key runners[0].feature_flags.${n} = ${!FEATURE_FLAG_DEFAULTS[
        n
      ]} is not supported by this runner and has no effect`
    ),
  );
  assert.deepEqual(parseConfig(table((d) => d), opts).warnings, []);
});

Deno.test("[runners.ssh] host warns that docker+ssh does not use it; ssh uses it", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "docker+ssh"\n[runners.ssh]\nhost = "build-1"\nuser = "ci"\n` +
      `[[runners]]\nname = "b"\nexecutor = "ssh"\n[runners.ssh]\nhost = "build-1"\n` +
      `[[runners]]\nname = "c"\nexecutor = "docker+ssh"\n[runners.ssh]\nuser = "ci"\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "unsupported_value",
      5,
      "key runners[0].ssh.host is not used by the docker+ssh executor: it connects to the job container's address",
    ],
  ]);
});

Deno.test("[runners.docker] keys docker+ssh does not read warn on a docker+ssh runner, not on a docker one", () => {
  const docker = `[runners.docker]\nimage = "alpine"\nvolumes = ["/cache"]\nmemory = "1g"\n` +
    `user = "nobody"\n[[runners.docker.services]]\nname = "postgres"\n`;
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "docker+ssh"\n${docker}` +
      `[[runners]]\nname = "b"\nexecutor = "docker"\n${docker}`,
    opts,
  );
  const why =
    "is not used by the docker+ssh executor: it starts the job container alone, without services, volumes, a helper or a job network";
  assert.deepEqual(warnings.map((w) => [w.kind, w.message]), [
    ["unsupported_value", `key runners[0].docker.volumes ${why}`],
    ["unsupported_value", `key runners[0].docker.user ${why}`],
    ["unsupported_value", `key runners[0].docker.services ${why}`],
  ]);
});

Deno.test("[runners.ssh] on a shell, docker or custom runner warns that it is not used", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "shell"\n[runners.ssh]\nuser = "ci"\nhost = "build-1"\n` +
      `[[runners]]\nname = "b"\nexecutor = "docker"\n[runners.docker]\nimage = "alpine"\n[runners.ssh]\n` +
      `[[runners]]\nname = "c"\nexecutor = "ssh"\n[runners.ssh]\nhost = "build-1"\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "unsupported_value",
      6,
      'key runners[0].ssh.host is not used: [runners.ssh] is read by the ssh and docker+ssh executors, not by "shell"',
    ],
  ]);
});

Deno.test("a shell the ssh executors cannot drive warns at load, naming the key", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "ssh"\nshell = "pwsh"\n[runners.ssh]\nhost = "b"\n` +
      `[[runners]]\nname = "c"\nexecutor = "ssh"\nshell = "sh"\n[runners.ssh]\nhost = "b"\n` +
      `[[runners]]\nname = "d"\nexecutor = "docker+ssh"\nshell = "powershell"\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "invalid_value",
      4,
      'key runners[0].shell = "pwsh" is not supported by the ssh executor: every job of runner "a" fails (use "bash" or "sh")',
    ],
    [
      "invalid_value",
      16,
      'key runners[2].shell = "powershell" is not supported by the docker+ssh executor: every job of runner "d" fails (use "bash" or "sh")',
    ],
  ]);
});

Deno.test("a shell the shell, custom or docker executor cannot drive warns at load, naming the key", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "shell"\nshell = "fish"\n` +
      `[[runners]]\nname = "b"\nexecutor = "shell"\nshell = "sh"\n` +
      `[[runners]]\nname = "c"\nexecutor = "custom"\nshell = "pwsh"\n[runners.custom]\nrun_exec = "/bin/true"\n` +
      `[[runners]]\nname = "d"\nexecutor = "docker"\nshell = "powershell"\n[runners.docker]\nimage = "alpine"\n` +
      `[[runners]]\nname = "e"\nexecutor = "docker"\nshell = "bash"\n[runners.docker]\nimage = "alpine"\n` +
      `[[runners]]\nname = "f"\nexecutor = "custom"\nshell = "pwsh"\n[runners.custom]\nrun_exec = "/bin/true"\n` +
      `config_exec = "/bin/cfg"\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "invalid_value",
      4,
      'key runners[0].shell = "fish" is not supported by the shell executor: every job of runner "a" fails (use "bash" or "sh")',
    ],
    [
      "invalid_value",
      12,
      'key runners[2].shell = "pwsh" is not supported by the custom executor: every job of runner "c" fails (use "bash" or "sh")',
    ],
    [
      "unsupported_value",
      18,
      'key runners[3].shell = "powershell" is not supported by the docker executor: its jobs run in the image\'s bash or sh',
    ],
    [
      "unsupported_value",
      30,
      'key runners[5].shell = "pwsh" is not supported by the custom executor: every job of runner "f" fails unless config_exec gives a shell (use "bash" or "sh")',
    ],
  ]);
});

Deno.test("[runners.cache.s3] settings no S3 signer can use warn at load, naming the key", () => {
  const cache = (s3: string) =>
    `[[runners]]\nexecutor = "shell"\n[runners.cache]\nType = "s3"\n[runners.cache.s3]\n` +
    `BucketName = "b"\n${s3}`;
  const { warnings } = parseConfig(
    cache(`AuthenticationType = "magic"\n`) +
      cache(`AuthenticationType = "access-key"\nAccessKey = "k"\n`) +
      cache(`ServerSideEncryption = "rot13"\n`) +
      cache(`AuthenticationType = "IAM"\nServerSideEncryption = "kms"\n`),
    opts,
  );
  const local = "its jobs keep their cache in cache_dir on this host";
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "unsupported_value",
      7,
      `key runners[0].cache.s3.AuthenticationType: AuthenticationType "magic" is not supported: use "access-key" or "iam"; ${local}`,
    ],
    [
      "unsupported_value",
      14,
      `key runners[1].cache.s3.AuthenticationType: AccessKey and SecretKey are required with AuthenticationType "access-key"; ${local}`,
    ],
    [
      "unsupported_value",
      22,
      `key runners[2].cache.s3.ServerSideEncryption: ServerSideEncryption "rot13" is not supported: use "S3", "KMS" or "DSSE-KMS"; ${local}`,
    ],
  ]);
});

Deno.test("a clone_url that is no URL and a [runners.docker] host that is no endpoint warn at load, naming the key", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "shell"\nclone_url = "not a url"\n` +
      `[[runners]]\nname = "b"\nexecutor = "docker"\nclone_url = "https://git.example.com:8443"\n` +
      `[runners.docker]\nimage = "alpine"\nhost = "localhost:2375"\n` +
      `[[runners]]\nname = "c"\nexecutor = "docker"\n[runners.docker]\nimage = "alpine"\n` +
      `host = "tcp://10.0.0.5:2376"\n` +
      `[[runners]]\nname = "d"\nexecutor = "docker"\n[runners.docker]\nimage = "alpine"\n` +
      `host = "ssh://ci@build-host"\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "invalid_value",
      4,
      'key runners[0].clone_url = "not a url" is not an absolute URL such as https://gitlab.example.com: every job of runner "a" fails',
    ],
    [
      "invalid_value",
      11,
      'key runners[1].docker.host = "localhost:2375" is not a Docker endpoint (expected unix:///path or tcp://host:port): every job of runner "b" fails',
    ],
    [
      "invalid_value",
      23,
      `key runners[3].docker.host = "ssh://ci@build-host" is not a Docker endpoint (expected unix:///path or tcp://host:port; the docker CLI's ssh:// transport is not supported): every job of runner "d" fails`,
    ],
  ]);
});

Deno.test("a relative builds_dir or cache_dir on a docker runner warns at load; the shell executor takes it", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "docker"\nbuilds_dir = "builds"\ncache_dir = "~/cache"\n` +
      `[runners.docker]\nimage = "alpine"\n` +
      `[[runners]]\nname = "b"\nexecutor = "docker"\nbuilds_dir = "/b"\ncache_dir = "/c"\n` +
      `[runners.docker]\nimage = "alpine"\n` +
      `[[runners]]\nname = "c"\nexecutor = "shell"\nbuilds_dir = "builds"\n`,
    opts,
  );
  const tail = "is not an absolute path, which the docker executor needs in the container: " +
    'every job of runner "a" fails';
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    ["invalid_value", 4, `key runners[0].builds_dir = "builds" ${tail}`],
    ["invalid_value", 5, `key runners[0].cache_dir = "~/cache" ${tail}`],
  ]);
});

Deno.test("a runner pull_policy its allowed_pull_policies refuse warns at load, naming the key set", () => {
  const docker = (name: string, lines: string) =>
    `[[runners]]\nname = "${name}"\nexecutor = "docker"\n[runners.docker]\nimage = "alpine"\n${lines}`;
  const { warnings } = parseConfig(
    docker("a", `pull_policy = "never"\nallowed_pull_policies = ["always"]\n`) +
      docker("b", `allowed_pull_policies = ["if-not-present"]\n`) +
      docker(
        "c",
        `pull_policy = ["Never", "always"]\nallowed_pull_policies = ["never", "always"]\n`,
      ) +
      docker("d", `pull_policy = "if-not-present"\n`),
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "invalid_value",
      6,
      'key runners[0].docker.pull_policy = ["never"] is not valid (not one of the allowed_pull_policies (always)): every job of runner "a" that sets no pull_policy of its own fails',
    ],
    [
      "invalid_value",
      13,
      'key runners[1].docker.allowed_pull_policies = ["if-not-present"] is not valid (it leaves out "always", the pull_policy of a runner that sets none): every job of runner "b" that sets no pull_policy of its own fails',
    ],
  ]);
});

Deno.test("a [runners.ssh] host or port that is no address warns at load; docker+ssh checks only the port", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "ssh"\n[runners.ssh]\nhost = "ci@build-1"\nport = "22x"\n` +
      `[[runners]]\nname = "b"\nexecutor = "ssh"\n[runners.ssh]\nhost = "fe80::1"\nport = "2222"\n` +
      `[[runners]]\nname = "c"\nexecutor = "docker+ssh"\n[runners.ssh]\nport = "0"\nuser = "u"\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "invalid_value",
      5,
      'key runners[0].ssh.host = "ci@build-1" is not valid (expected a host name or IP address (a port goes in port, a user in user)): every job of runner "a" fails',
    ],
    [
      "invalid_value",
      6,
      'key runners[0].ssh.port = "22x" is not valid (expected a number from 1 to 65535): every job of runner "a" fails',
    ],
    [
      "invalid_value",
      17,
      'key runners[2].ssh.port = "0" is not valid (expected a number from 1 to 65535): every job of runner "c" fails',
    ],
  ]);
});

Deno.test("[runners.docker] volumes the official parser refuses warn at load, each by its index", () => {
  const docker = (name: string, executor: string, volumes: string) =>
    `[[runners]]\nname = "${name}"\nexecutor = "${executor}"\n[runners.docker]\nimage = "alpine"\n` +
    `volumes = ${volumes}\n`;
  const { warnings } = parseConfig(
    docker("a", "docker", `["/cache", "relative", "/srv:/data:bogus"]`) +
      docker("b", "docker", `["/data", "/x:/data/"]`) +
      docker("c", "docker", `["/cache", "/srv:/srv:ro,z", "vol:/v:rw"]`),
    opts,
  );
  const fails = (name: string) => `every job of runner "${name}" fails`;
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "invalid_value",
      6,
      `key runners[0].docker.volumes[1] = "relative" is not valid (a container path must be absolute): ${
        fails("a")
      }`,
    ],
    [
      "invalid_value",
      6,
      `key runners[0].docker.volumes[2] = "/srv:/data:bogus" is not valid (expected /container/path or source:/container/path[:mode], the mode one of ro, rw or O, then z or Z, then a propagation such as rshared): ${
        fails("a")
      }`,
    ],
    [
      "invalid_value",
      12,
      `key runners[1].docker.volumes[1] = "/x:/data/" is not valid (a volume for container path "/data" is already defined): ${
        fails("b")
      }`,
    ],
  ]);
});

Deno.test("a memory_swap Docker refuses with its memory, and an oom_score_adjust out of range, warn at load", () => {
  const docker = (name: string, lines: string) =>
    `[[runners]]\nname = "${name}"\nexecutor = "docker"\n[runners.docker]\nimage = "alpine"\n${lines}`;
  const { warnings } = parseConfig(
    docker("a", `memory_swap = "1g"\noom_score_adjust = 5000\n`) +
      docker("b", `memory = "512m"\nmemory_swap = "256m"\n`) +
      docker("c", `memory = "512m"\nmemory_swap = "512m"\noom_score_adjust = -1000\n`),
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "invalid_value",
      6,
      'key runners[0].docker.memory_swap = "1g" is not valid (Docker needs memory set with a swap limit): every job of runner "a" fails',
    ],
    [
      "invalid_value",
      7,
      `key runners[0].docker.oom_score_adjust = 5000 is not valid (Docker's range is -1000 to 1000): every job of runner "a" fails`,
    ],
    [
      "invalid_value",
      14,
      'key runners[1].docker.memory_swap = "256m" is not valid (Docker needs it at least memory (memory + swap)): every job of runner "b" fails',
    ],
  ]);
});

Deno.test("[runners.docker] devices, ulimit, gpus and tmpfs the executor refuses warn at load, naming each", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "docker"\n[runners.docker]\nimage = "alpine"\n` +
      `devices = ["/dev/fuse", "/dev/a:/dev/b:rwx"]\ngpus = "count=x"\n` +
      `[runners.docker.ulimit]\nnofile = "1024:x"\nnproc = "64"\n` +
      `[runners.docker.tmpfs]\n"tmp" = "rw"\n"/ok" = "rw,noexec"\n` +
      `[[runners]]\nname = "b"\nexecutor = "docker"\n[runners.docker]\nimage = "alpine"\n` +
      `devices = ["/dev/a:/dev/b:rw"]\ngpus = "all"\n`,
    opts,
  );
  const fails = 'every job of runner "a" fails';
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "invalid_value",
      6,
      `key runners[0].docker.devices[1] = "/dev/a:/dev/b:rwx" is not valid (the permissions may hold r, w and m, each once (as docker run --device)): ${fails}`,
    ],
    [
      "invalid_value",
      9,
      `key runners[0].docker.ulimit.nofile = "1024:x" is not valid (expected soft[:hard] as integers): ${fails}`,
    ],
    [
      "invalid_value",
      7,
      `key runners[0].docker.gpus = "count=x" is not valid ("x" is not a GPU count or all): ${fails}`,
    ],
    [
      "invalid_value",
      12,
      `key runners[0].docker.tmpfs.tmp is not valid (a mount point must be an absolute path): ${fails}`,
    ],
  ]);
});

Deno.test("an S3 setting no URL can be made from warns at load naming it, as GCS and Azure ones do", () => {
  const entry = (s3: string) =>
    `[[runners]]\nexecutor = "shell"\n[runners.cache]\nType = "s3"\n[runners.cache.s3]\n${s3}`;
  const { warnings } = parseConfig(
    entry(`ServerAddress = "minio:9000"\n`) +
      entry(`ServerAddress = "https://minio:9000"\nBucketName = "b"\n`) +
      entry(`BucketName = ".."\n`) +
      entry(`BucketName = "b"\nBucketLocation = "eu west"\n`) +
      entry(`ServerAddress = "127.0.0.1:9000"\nBucketName = "b"\nPathStyle = false\n`),
    opts,
  );
  const local = "its jobs keep their cache in cache_dir on this host";
  // Before, lint said the config was valid and every job warned "No URL for the distributed cache".
  assert.deepEqual(warnings.map((w) => [w.line, w.message]), [
    [
      5,
      `key runners[0].cache.s3.BucketName: BucketName is empty: name the bucket to use; ${local}`,
    ],
    [
      12,
      'key runners[1].cache.s3.ServerAddress: ServerAddress "https://minio:9000" is not ' +
      `host[:port]: write "minio:9000" (Insecure = true selects http); ${local}`,
    ],
    [
      19,
      'key runners[2].cache.s3.BucketName: BucketName ".." is not a name: a URL resolves it as a ' +
      `path step, so the cache would go to another bucket or container; ${local}`,
    ],
    [
      26,
      'key runners[3].cache.s3.BucketLocation: BucketLocation "eu west" is not a region name: ' +
      `letters, digits, "-" and "_" only; ${local}`,
    ],
    [
      34,
      "key runners[4].cache.s3.PathStyle: PathStyle = false does not work with ServerAddress " +
      `"127.0.0.1:9000": an IP address cannot take the bucket as a subdomain (remove PathStyle); ${local}`,
    ],
  ]);
});

Deno.test("an Azure AccountName or StorageDomain, or a GCS UniverseDomain, no URL can be made from warns at load naming it", () => {
  const entry = (type: string, keys: string) =>
    `[[runners]]\nexecutor = "shell"\n[runners.cache]\nType = "${type}"\n[runners.cache.${type}]\n` +
    keys;
  const azure = `ContainerName = "cache"\nAccountKey = "a2V5"\n`;
  const gcs = `BucketName = "b"\nAccessID = "a@b"\nPrivateKey = "k"\n`;
  const { warnings } = parseConfig(
    entry("azure", `${azure}AccountName = "MyAccount"\n`) +
      entry("azure", `${azure}AccountName = "acct"\nStorageDomain = "https://blob.example.com"\n`) +
      entry("gcs", `${gcs}UniverseDomain = "https://example.com"\n`),
    opts,
  );
  const local = "its jobs keep their cache in cache_dir on this host";
  // Before, lint said the config was valid and every job warned "No URL for the distributed cache".
  assert.deepEqual(warnings.map((w) => [w.line, w.message]), [
    [
      8,
      'key runners[0].cache.azure.AccountName: AccountName "MyAccount" is not a storage account ' +
      `name: 3 to 24 lowercase letters and digits; ${local}`,
    ],
    [
      17,
      'key runners[1].cache.azure.StorageDomain: StorageDomain "https://blob.example.com" is not ' +
      `a domain[:port]: write "blob.example.com"; ${local}`,
    ],
    [
      26,
      'key runners[2].cache.gcs.UniverseDomain: UniverseDomain "https://example.com" is not a ' +
      `domain; ${local}`,
    ],
  ]);
});

Deno.test("an Azure ContainerName Azure refuses warns at load naming it", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nexecutor = "shell"\n[runners.cache]\nType = "azure"\n[runners.cache.azure]\n` +
      `AccountName = "acct"\nContainerName = "RunnerCache"\nAccountKey = "a2V5"\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.line, w.message]), [[
    7,
    'key runners[0].cache.azure.ContainerName: ContainerName "RunnerCache" is not a container ' +
    "name: 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a " +
    "letter or digit; its jobs keep their cache in cache_dir on this host",
  ]]);
});

Deno.test("[runners.cache.gcs] and [runners.cache.azure] settings no signer can use warn at load, naming the key", () => {
  const cache = (type: string, section: string) =>
    `[[runners]]\nexecutor = "shell"\n[runners.cache]\nType = "${type}"\n[runners.cache.${type}]\n${section}`;
  const { warnings } = parseConfig(
    cache("gcs", `BucketName = "b"\n`) +
      cache("gcs", `CredentialsFile = "/k.json"\n`) +
      cache(
        "azure",
        `AccountName = "acct"\nContainerName = "cache"\nAccountKey = "not base64!"\n`,
      ) +
      cache("azure", `AccountName = "acct"\nAccountKey = "a2V5"\n`) +
      cache("gcs", `BucketName = "b"\nCredentialsFile = "/k.json"\n`) +
      cache("azure", `AccountName = "acct"\nContainerName = "cache"\nAccountKey = "a2V5"\n`),
    opts,
  );
  const local = "its jobs keep their cache in cache_dir on this host";
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "unsupported_value",
      5,
      `key runners[0].cache.gcs.CredentialsFile: needs CredentialsFile, or AccessID and PrivateKey, to sign URLs; ${local}`,
    ],
    [
      "unsupported_value",
      11,
      `key runners[1].cache.gcs.BucketName: BucketName is empty: name the bucket to use; ${local}`,
    ],
    [
      "unsupported_value",
      20,
      `key runners[2].cache.azure.AccountKey: AccountKey is not a valid key: it is not base64; ${local}`,
    ],
    [
      "unsupported_value",
      25,
      `key runners[3].cache.azure.ContainerName: ContainerName can't be empty: name the container; ${local}`,
    ],
  ]);
});

Deno.test("[runners.docker] values every job would refuse warn at load, naming key and line", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "docker"\n[runners.docker]\nimage = "alpine"\n` +
      `pull_policy = ["if-not-present", "sometimes"]\nmemory = "lots"\ncpus = "0"\n` +
      `shm_size = -5\nservice_memory = "1k"\nuserns_mode = "hots"\ndns = ["1.1.1.1", "dns.google"]\n` +
      `[[runners]]\nname = "b"\nexecutor = "docker"\n[runners.docker]\nimage = "alpine"\n` +
      `pull_policy = "Never"\nallowed_pull_policies = ["never", "always"]\nmemory = "512m"\n` +
      `memory_swap = "1g"\ncpus = "1.5"\nservice_memory = "64m"\nuserns_mode = "host"\n` +
      `dns = ["fe80::1%eth0", "::ffff:10.0.0.1"]\n`,
    opts,
  );
  const fails = 'every job of runner "a" fails';
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "invalid_value",
      6,
      `key runners[0].docker.pull_policy[1] = "sometimes" is not valid (expected always, if-not-present or never): ${fails}`,
    ],
    [
      "invalid_value",
      7,
      `key runners[0].docker.memory = "lots" is not valid (expected a size such as 512m or 2g): ${fails}`,
    ],
    [
      "invalid_value",
      10,
      'key runners[0].docker.service_memory = "1k" is not valid (the minimum is 4m): every job of runner "a" that has services fails',
    ],
    [
      "invalid_value",
      8,
      `key runners[0].docker.cpus = "0" is not valid (expected a positive number): ${fails}`,
    ],
    [
      "invalid_value",
      9,
      `key runners[0].docker.shm_size = -5 is not valid (Docker refuses a value below 0): ${fails}`,
    ],
    [
      "invalid_value",
      12,
      `key runners[0].docker.dns[1] = "dns.google" is not valid (expected an IP address (the official runner refuses any other)): ${fails}`,
    ],
    [
      "invalid_value",
      11,
      `key runners[0].docker.userns_mode = "hots" is not valid (expected "host" (or no value)): ${fails}`,
    ],
  ]);
});

Deno.test("[runners.docker] and [runners.custom] on a runner whose executor does not read them warn, naming the first key", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "shell"\n[runners.docker]\nimage = "alpine"\nprivileged = true\n` +
      `[runners.custom]\nrun_exec = "/bin/true"\n` +
      `[[runners]]\nname = "b"\nexecutor = "docker+ssh"\n[runners.docker]\nimage = "alpine"\n` +
      `[[runners]]\nname = "c"\nexecutor = "custom"\n[runners.custom]\nrun_exec = "/bin/true"\n` +
      `[runners.docker]\n`,
    opts,
  );
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [
    [
      "unsupported_value",
      5,
      'key runners[0].docker.image is not used: [runners.docker] is read by the docker and docker+ssh executors, not by "shell"',
    ],
    [
      "unsupported_value",
      8,
      'key runners[0].custom.run_exec is not used: [runners.custom] is read by the custom executor, not by "shell"',
    ],
  ]);
});

Deno.test("[[runners.docker.services]] alone on a runner whose executor does not read [runners.docker] warns", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "shell"\n[[runners.docker.services]]\nname = "postgres:16"\n` +
      `[[runners]]\nname = "b"\nexecutor = "docker"\n[[runners.docker.services]]\nname = "postgres:16"\n`,
    opts,
  );
  // It was accepted without a word: a shell job never got its database.
  assert.deepEqual(warnings.map((w) => w.message), [
    'key runners[0].docker.services is not used: [runners.docker] is read by the docker and docker+ssh executors, not by "shell"',
  ]);
});

Deno.test("a [[runners.docker.services]] entry every job refuses (no name, a bad HEALTHCHECK_TCP_PORT) warns at load", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "docker"\n[runners.docker]\nimage = "alpine"\n` +
      `[[runners.docker.services]]\nalias = "db"\n` +
      `[[runners.docker.services]]\nname = "redis:7"\nenvironment = ["HEALTHCHECK_TCP_PORT=redis"]\n` +
      `[[runners.docker.services]]\nname = "$SVC_IMAGE"\n` +
      `environment = ["HEALTHCHECK_TCP_PORT=6379", "healthcheck_tcp_port=$PORT", "HEALTHCHECK_TCP_PORT="]\n`,
    opts,
  );
  // Lint called the file valid; every job failed ("invalid service image name", or the port).
  assert.deepEqual(warnings.map((w) => [w.kind, w.message]), [
    [
      "invalid_value",
      'key runners[0].docker.services[0].name = "" is not valid (a service needs an image name): every job of runner "a" fails',
    ],
    [
      "invalid_value",
      'key runners[0].docker.services[1].environment = "HEALTHCHECK_TCP_PORT=redis" is not valid (HEALTHCHECK_TCP_PORT must be a TCP port number from 1 to 65535): every job of runner "a" fails',
    ],
  ]);
});

Deno.test("a services_limit below the count of [[runners.docker.services]] warns at load", () => {
  const text = (limit: number) =>
    `[[runners]]\nname = "a"\nexecutor = "docker"\n[runners.docker]\nimage = "alpine"\n` +
    `services_limit = ${limit}\n[[runners.docker.services]]\nname = "postgres:16"\n` +
    `[[runners.docker.services]]\nname = "redis:7"\n`;
  // Every job failed "too many services requested: 2, only 1 allowed"; lint said valid.
  assert.deepEqual(parseConfig(text(1), opts).warnings.map((w) => w.message), [
    'key runners[0].docker.services_limit = 1 is not valid ([[runners.docker.services]] alone starts 2): every job of runner "a" fails',
  ]);
  assert.deepEqual(parseConfig(text(2), opts).warnings, []);
  assert.deepEqual(parseConfig(text(-1), opts).warnings, []);
});

Deno.test("a [[runners.docker.services]] environment entry that is not KEY=VALUE warns at load", () => {
  const { warnings } = parseConfig(
    `[[runners]]\nname = "a"\nexecutor = "docker"\n[runners.docker]\nimage = "alpine"\n` +
      `[[runners.docker.services]]\nname = "postgres:16"\n` +
      `environment = ["POSTGRES_DB=test", "POSTGRES_PASSWORD", "=x"]\n`,
    opts,
  );
  // Dropped without a word: the database started without its password.
  assert.deepEqual(warnings.map((w) => w.message), [
    'key runners[0].docker.services[0].environment[1] = "POSTGRES_PASSWORD" is not KEY=VALUE: the service gets no variable from it',
    'key runners[0].docker.services[0].environment[2] has no name before "=": the service gets no variable from it',
  ]);
});

Deno.test("a metrics listen_address the server cannot listen on warns at load, naming the key", () => {
  const { warnings } = parseConfig(`concurrent = 1\nlisten_address = "metrics:http"\n`, opts);
  assert.deepEqual(warnings.map((w) => [w.kind, w.line, w.message]), [[
    "unsupported_value",
    2,
    'key listen_address = "metrics:http" cannot be listened on: port "http" is not a number; the metrics server does not start',
  ]]);
  for (const good of ["localhost:9252", ":9252", "127.0.0.1", "[::1]:9252"]) {
    const loaded = parseConfig(`listen_address = ${JSON.stringify(good)}\n`, opts);
    assert.deepEqual(loaded.warnings, [], good);
  }
});

Deno.test("a [session_server] address the runner cannot start with is a config error naming the key", () => {
  const session = (body: string) => `concurrent = 1\n\n[session_server]\n${body}`;
  const problems = (text: string) => {
    try {
      parseConfig(text, opts);
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.problems.map((p) => [p.line, p.message]);
    }
  };
  assert.deepEqual(problems(session(`  listen_address = "127.0.0.1"\n`)), [[
    4,
    'key session_server.listen_address = "127.0.0.1" cannot be used: expected host:port (for example "0.0.0.0:8093")',
  ]]);
  assert.deepEqual(problems(session(`  listen_address = ":8093"\n`)), [[
    4,
    'key session_server.listen_address = ":8093" cannot be used: no valid address provided (listen_address ":8093", advertise_address "" name no host)',
  ]]);
  assert.deepEqual(
    problems(
      session(`  listen_address = ":8093"\n  advertise_address = "https://r.example.com:8093"\n`),
    ),
    [[
      5,
      'key session_server.advertise_address = "https://r.example.com:8093" cannot be used: url not valid, scheme defined',
    ]],
  );
  assert.deepEqual(
    problems(session(`  listen_address = ":8093"\n  advertise_address = "r.example.com:8093"\n`)),
    [],
  );
  assert.deepEqual(problems(session(`  advertise_address = "bad"\n`)), [], "no server: not used");
});
