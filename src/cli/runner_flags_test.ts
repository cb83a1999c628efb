import assert from "node:assert/strict";
import official from "../config/official_keys.json" with { type: "json" };
import { parseRunnerTable, RUNNER_FLAGS, runnerTableFromFlags } from "./runner_flags.ts";
import { isNamed, isSupported, namedKeys } from "../../tests/fixtures/official_keys.ts";
import { REGISTER_FLAGS } from "./commands/register.ts";
import { Flags, type FlagSpec, parseFlags, UsageError } from "./flags.ts";
import { encodeConfig } from "../config/encode_config.ts";
import { defaultConfig } from "../config/default_config.ts";

function officialFlag(name: string) {
  const flag = official.registerFlags.find((f) => f.name === name);
  assert.ok(flag, `${name} is an official flag of ${official.version}`);
  return flag;
}

Deno.test("flags the official runner spells unusually are accepted as spelled, with the official environment names; our older spellings stay aliases", () => {
  for (
    const [name, alias] of [
      ["docker-services_privileged", "docker-services-privileged"],
      ["docker-allowed_users", "docker-allowed-users"],
      ["docker-userns", "docker-userns-mode"],
      ["docker-service_gpus", "docker-service-gpus"],
      ["job-status-final-update-retry-limit", null],
      ["docker-ipcmode", null],
    ] as const
  ) {
    const expected = officialFlag(name);
    const ours = RUNNER_FLAGS.find((f) => f.name === name);
    assert.ok(ours, `--${name} is accepted`);
    assert.equal(ours.env, expected.env, `--${name} reads ${expected.env}`);
    if (alias) assert.ok(ours.aliases?.includes(alias), `--${alias} still works`);
  }
  assert.equal(
    officialFlag("job-status-final-update-retry-limit").env,
    "RUNNER_job_status_final_update_retry_limit",
  );
  assert.equal(officialFlag("docker-ipcmode").env, "DOCKER_IPC_MODE");
});

const EXCLUDED_FAMILIES = ["kubernetes-", "machine-", "parallels-", "virtualbox-", "autoscaler-"];
const WALKED = official.registerFlags.filter((f) =>
  !EXCLUDED_FAMILIES.some((family) => f.name.startsWith(family))
);

/** A command-line value of the flag's Go type. */
function sample(goType: string): string | null {
  const t = goType.replace(/^\*/, "");
  if (t === "bool") return null;
  if (t === "map[string]bool") return "FF_SAMPLE:true";
  if (t.startsWith("map[") || t === "DockerSysCtls") return "sample.key:sample-value";
  if (/^u?int(8|16|32|64)?$/.test(t)) return "7";
  if (t === "time.Duration") return "90s";
  return "sample";
}

function tableAt(table: Record<string, unknown>, key: string): unknown {
  let node: unknown = table;
  for (const part of key.split(".").slice(1)) node = (node as Record<string, unknown>)?.[part];
  return node;
}

Deno.test("register accepts every official flag and environment name outside the kubernetes, machine, parallels, virtualbox and autoscaler families", () => {
  assert.ok(WALKED.length > 170, `${WALKED.length} official flags walked`);
  const byName = new Map<string, FlagSpec>();
  for (const spec of REGISTER_FLAGS) {
    for (const name of [spec.name, ...(spec.aliases ?? [])]) byName.set(name, spec);
  }
  const problems: string[] = [];
  for (const flag of WALKED) {
    const ours = byName.get(flag.name);
    if (!ours) {
      problems.push(`--${flag.name} is not accepted`);
      continue;
    }
    if (flag.short && byName.get(flag.short) !== ours) {
      problems.push(`-${flag.short} is not an alias of --${flag.name}`);
    }
    if ((ours.env ?? "") !== flag.env) {
      problems.push(
        `--${flag.name} reads ${ours.env ?? "no variable"}, upstream ${flag.env || "none"}`,
      );
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("every official register flag, and its environment variable, sets the official config.toml key", () => {
  const problems: string[] = [];
  for (const flag of WALKED) {
    if (flag.key === null || flag.key.startsWith("runners.monitoring")) continue;
    const value = sample(flag.goType);
    const args = value === null ? [`--${flag.name}`] : [`--${flag.name}`, value];
    const fromArgs = runnerTableFromFlags(
      new Flags(parseFlags(args, REGISTER_FLAGS, () => undefined)),
    );
    if (tableAt(fromArgs, flag.key) === undefined) {
      problems.push(`--${flag.name} sets nothing at ${flag.key}`);
    }
    if (!flag.env) continue;
    const env = (name: string) => name === flag.env ? (value ?? "true") : undefined;
    const fromEnv = runnerTableFromFlags(new Flags(parseFlags([], REGISTER_FLAGS, env)));
    if (tableAt(fromEnv, flag.key) === undefined) {
      problems.push(`${flag.env} sets nothing at ${flag.key}`);
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("a register flag whose key we do not act on gets the load warning naming that key", () => {
  const silent: string[] = [];
  let checked = 0;
  for (const flag of WALKED) {
    if (flag.key === null || flag.key.startsWith("runners.monitoring")) continue;
    if (isSupported({ path: flag.key, goType: flag.goType })) continue;
    checked++;
    const value = sample(flag.goType);
    const args = value === null ? [`--${flag.name}`] : [`--${flag.name}`, value];
    const table = runnerTableFromFlags(
      new Flags(parseFlags(args, REGISTER_FLAGS, () => undefined)),
    );
    table["executor"] = "shell";
    const { warnings } = parseRunnerTable(table, { source: "command line", env: {} });
    if (!isNamed(flag.key, namedKeys(warnings.map((w) => w.message)))) {
      silent.push(`--${flag.name}`);
    }
  }
  assert.deepEqual(silent, []);
  // The walk reaches flags of unsupported keys at all (fewer as more keys are acted on).
  assert.ok(checked > 0, `${checked} flags of keys we do not act on`);
});

Deno.test("an integer flag takes Go's int64 range, written to config.toml as the integer given", () => {
  // --output-limit 100000000000000000000 became output_limit = 100000000000000000000.0,
  // a float that no config.toml loader takes for an integer key; beyond int64 it is refused,
  // as urfave/cli refuses it for an int64 field.
  for (
    const [args, env] of [
      [["--output-limit", "9223372036854775808"], {}],
      [[], { RUNNER_REQUEST_CONCURRENCY: "-9223372036854775809" }],
    ] as const
  ) {
    assert.throws(
      () => parseFlags([...args], REGISTER_FLAGS, (name) => (env as Record<string, string>)[name]),
      (err: Error) => {
        assert.ok(err instanceof UsageError);
        assert.match(
          err.message,
          /takes an integer, got "-?\d+": out of range \(-9223372036854775808 to 9223372036854775807\)/,
        );
        return true;
      },
    );
  }
  // Up to int64 (9223372036854775807, "no limit" to the official runner), written as given.
  const flags = new Flags(
    parseFlags(
      [
        "--output-limit",
        "9007199254740991",
        "--cache-max_uploaded_archive_size",
        "9223372036854775807",
      ],
      REGISTER_FLAGS,
      () => undefined,
    ),
  );
  const table = runnerTableFromFlags(flags);
  assert.equal(table["output_limit"], Number.MAX_SAFE_INTEGER);
  const { runner } = parseRunnerTable(table, { source: "command line", env: {} });
  assert.equal(runner.cache.maxUploadedArchiveSize, Number.MAX_SAFE_INTEGER);
  assert.match(
    encodeConfig({ ...defaultConfig(), runners: [runner] }),
    /\nMaxUploadedArchiveSize = 9223372036854775807\n/,
  );
});

Deno.test("--runner-monitoring and --job-queuing-duration are refused with where to write the table", () => {
  for (const name of ["runner-monitoring", "job-queuing-duration"]) {
    const flags = new Flags(parseFlags([`--${name}`, "x"], REGISTER_FLAGS, () => undefined));
    assert.throws(() => runnerTableFromFlags(flags), (err: Error) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, new RegExp(`--${name} cannot be given on the command line`));
      assert.match(err.message, /--template-config/);
      return true;
    });
  }
});

function table(args: string[], env: Record<string, string> = {}): Record<string, unknown> {
  return runnerTableFromFlags(new Flags(parseFlags(args, REGISTER_FLAGS, (n) => env[n])));
}

Deno.test("map flags take repeated key:value items, split at the first colon; the variable is one more item, first", () => {
  const got = table([
    "--docker-sysctls",
    "net.ipv4.ip_forward:1",
    "--docker-sysctls=net.core.somaxconn:1024",
    "--docker-tmpfs",
    "/tmp:rw,noexec,size=64m",
    "--docker-services_devices",
    "mysql:*:/dev/kvm",
    "--feature-flags",
    "FF_A:true",
    "--feature-flags",
    "FF_B:false",
    "--feature-flags",
    "FF_C",
  ], { DOCKER_SYSCTLS: "kernel.msgmax:65536", DOCKER_ULIMIT: "nofile:1024:2048" });
  assert.deepEqual(got["docker"], {
    sysctls: {
      "kernel.msgmax": "65536",
      "net.ipv4.ip_forward": "1",
      "net.core.somaxconn": "1024",
    },
    tmpfs: { "/tmp": "rw,noexec,size=64m" },
    services_devices: { mysql: ["*:/dev/kvm"] },
    ulimit: { nofile: "1024:2048" },
  });
  assert.deepEqual(got["feature_flags"], { FF_A: true, FF_B: false, FF_C: true });
  assert.throws(
    () => table(["--feature-flags", "FF_A:maybe"]),
    /--feature-flags takes KEY:true or KEY:false items, got "FF_A:maybe"/,
  );
});

Deno.test("list variables are one item and come before the flags' items; pull policy splits at commas", () => {
  const got = table(["--docker-volumes", "/b"], {
    DOCKER_VOLUMES: "/a,/c",
    DOCKER_PULL_POLICY: "if-not-present, always",
  });
  assert.deepEqual(got["docker"], {
    volumes: ["/a,/c", "/b"],
    pull_policy: ["if-not-present", "always"],
  });
  assert.deepEqual(
    (table(["--docker-pull-policy", "always", "--docker-pull-policy", "never"])["docker"] as {
      pull_policy: string[];
    }).pull_policy,
    ["never"],
  );
});

Deno.test("a bad value from an environment variable is named by the variable, one from the command line by its flag", () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [[], { RUNNER_LIMIT: "abc" }, /^RUNNER_LIMIT \(--limit\) takes an integer, got "abc"$/],
    [[], { DOCKER_PRIVILEGED: "maybe" }, /^DOCKER_PRIVILEGED \(--docker-privileged\) takes true/],
    [["--limit", "abc"], {}, /^Flag --limit takes an integer/],
    [
      [],
      { RUNNER_PREPARE_TIMEOUT: "soon" },
      /^RUNNER_PREPARE_TIMEOUT \(--prepare-timeout\) takes a duration/,
    ],
    [
      ["--feature-flags", "FF_A:true"],
      { FEATURE_FLAGS: "FF_B:maybe" },
      /^Flag --feature-flags \(or FEATURE_FLAGS\) takes KEY:true or KEY:false items, got "FF_B:maybe"$/,
    ],
  ];
  for (const [args, env, message] of cases) {
    assert.throws(() => table(args, env), (err: Error) => {
      assert.ok(err instanceof UsageError, String(err));
      assert.match(err.message, message);
      return true;
    });
  }
});
