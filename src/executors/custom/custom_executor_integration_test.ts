import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { defaultRunnerConfig } from "../../config/default_config.ts";
import type { CustomConfig } from "../../config/runner_config.ts";
import { JobFailedError } from "../../job/failure_reason.ts";
import { type JobSpec, parseJobSpec } from "../../job/job_spec.ts";
import type { LogFields, Logger } from "../../log/logger.ts";
import { CollectedOutput, contractScript, testExecutorContract } from "../executor_contract.ts";
import type { JobOutput } from "../executor.ts";
import { CustomExecutor } from "./custom_executor.ts";
import { runDriver } from "./driver_process.ts";

const DRIVER = fileURLToPath(new URL("./testdata/driver.sh", import.meta.url));
const never = () => new AbortController().signal;
/** Every test's files live here; removed when the test module unloads. */
const BASE = Deno.makeTempDirSync({ prefix: "custom-executor-test-" });
globalThis.addEventListener("unload", () => Deno.removeSync(BASE, { recursive: true }));

/** Collects runner log records. */
class CollectedLog implements Logger {
  readonly records: Array<{ level: string; msg: string; fields: LogFields }> = [];
  constructor(readonly base: LogFields = {}) {}
  #add(level: string, msg: string, fields: LogFields = {}) {
    this.records.push({ level, msg, fields: { ...this.base, ...fields } });
  }
  debug(msg: string, fields?: LogFields) {
    this.#add("debug", msg, fields);
  }
  info(msg: string, fields?: LogFields) {
    this.#add("info", msg, fields);
  }
  warn(msg: string, fields?: LogFields) {
    this.#add("warn", msg, fields);
  }
  error(msg: string, fields?: LogFields) {
    this.#add("error", msg, fields);
  }
  child(_fields: LogFields): Logger {
    return this;
  }
}

function job(overrides: Record<string, unknown> = {}): JobSpec {
  return parseJobSpec({
    id: 4711,
    token: "glcbt-job-token",
    "job_info": { name: "test", stage: "test", "project_id": 42 },
    "git_info": { "repo_url": "https://gitlab.example.com/acme/widget.git", ref: "main" },
    "runner_info": { timeout: 3600 },
    variables: [
      { key: "CI_JOB_ID", value: "4711", public: true },
      { key: "GREETING", value: "hello world", public: true },
    ],
    steps: [{ name: "script", script: ["echo hi"], when: "on_success" }],
    ...overrides,
  });
}

interface Setup {
  executor: CustomExecutor;
  output: CollectedOutput;
  log: CollectedLog;
  dir: string;
  /** Driver calls so far. */
  calls: () => Promise<DriverCallRecord[]>;
}

interface DriverCallRecord {
  role: string;
  args: string[];
  env: Record<string, string>;
}

async function setup(
  options: {
    config?: Partial<CustomConfig>;
    env?: Record<string, string>;
    buildsDir?: string;
    cacheDir?: string;
    shell?: string;
    job?: JobSpec;
    output?: JobOutput;
  } = {},
): Promise<Setup> {
  const dir = await Deno.makeTempDir({ dir: BASE });
  const output = new CollectedOutput();
  const log = new CollectedLog();
  const config: CustomConfig = {
    ...defaultRunnerConfig("custom").custom,
    configExec: DRIVER,
    configArgs: ["config"],
    prepareExec: DRIVER,
    prepareArgs: ["prepare"],
    runExec: DRIVER,
    runArgs: ["run"],
    cleanupExec: DRIVER,
    cleanupArgs: ["cleanup"],
    gracefulKillTimeout: 30,
    forceKillTimeout: 10,
    ...options.config,
  };
  const spec = options.job ?? job();
  const executor = new CustomExecutor({
    config,
    shell: options.shell ?? "",
    buildsDir: options.buildsDir ?? `${dir}/builds`,
    cacheDir: options.cacheDir ?? `${dir}/cache`,
    cwd: dir,
    env: { ...Deno.env.toObject(), DRIVER_DIR: dir, ...options.env },
    tempDir: dir,
    job: spec,
    variables: spec.variables,
    output: options.output ?? output,
    log,
  });
  const calls = async () => {
    let text = "";
    try {
      text = await Deno.readTextFile(`${dir}/calls.log`);
    } catch {
      return [];
    }
    const out: DriverCallRecord[] = [];
    for (const line of text.split("\n")) {
      if (line.startsWith("CALL ")) {
        const [role = "", ...args] = line.slice(5).trim().split(" ");
        out.push({ role, args, env: {} });
      } else if (line.startsWith("ENV ")) {
        const eq = line.indexOf("=");
        out.at(-1)!.env[line.slice(4, eq)] = line.slice(eq + 1);
      }
    }
    return out;
  };
  return { executor, output, log, dir, calls };
}

/** Whether `pid` is gone (a zombie awaiting its reaper counts as gone); polls up to 30 s. */
async function isGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 300; i++) {
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) return true;
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function readPid(file: string): Promise<number> {
  for (let i = 0; i < 300; i++) {
    try {
      const text = (await Deno.readTextFile(file)).trim();
      if (text !== "") return Number(text);
    } catch {
      // not written yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${file} was never written`);
}

testExecutorContract("custom", async (output) => (await setup({ output })).executor);

Deno.test("CustomExecutor calls each driver with its args, the script path and the official stage name", async () => {
  const s = await setup();
  await s.executor.prepare(never());
  for (
    const stage of ["prepare_script", "get_sources", "step_script", "step_release", "after_script"]
  ) {
    const code = await s.executor.run({ stage, script: contractScript(["true"]) }, never());
    assert.equal(code, 0);
  }
  await s.executor.cleanup();

  const calls = await s.calls();
  assert.deepEqual(calls.map((c) => c.role), [
    "config",
    "prepare",
    "run",
    "run",
    "run",
    "run",
    "run",
    "cleanup",
  ]);
  assert.deepEqual(calls[0]!.args, []);
  const runs = calls.filter((c) => c.role === "run");
  assert.deepEqual(runs.map((c) => c.args[1]), [
    "prepare_script",
    "get_sources",
    "build_script", // the official runner still renames step_script for drivers
    "step_release",
    "after_script",
  ]);
  const tempDir = calls[0]!.env["TMPDIR"]!;
  assert.ok(tempDir.startsWith(`${s.dir}/custom-executor`), tempDir);
  for (const run of runs) {
    assert.match(run.args[0]!, new RegExp(`^${tempDir}/script[^/]+/script$`));
  }
  assert.match(
    s.output.text(),
    /WARNING: Starting with version 17\.0 the 'build_script' stage will be replaced with 'step_script'/,
  );
  // Upstream scripts start with a shebang so that a driver may exec them.
  assert.match(await Deno.readTextFile(`${s.dir}/last-script`), /^#!\/usr\/bin\/env bash\n/);
  // The per-job temp dir is gone after cleanup.
  await assert.rejects(Deno.stat(tempDir), Deno.errors.NotFound);
});

Deno.test("CustomExecutor gives drivers the official environment", async () => {
  const s = await setup({
    env: {
      RUNNER_SIDE: "from-runner",
      CONFIG_JSON: JSON.stringify({ "job_env": { "DRIVER_TOKEN": "t0ken" } }),
    },
    job: job({
      services: [
        { name: "redis:7" },
        { name: "postgres:16", alias: "db,pg", entrypoint: ["docker-entrypoint.sh"] },
      ],
    }),
  });
  await s.executor.prepare(never());
  await s.executor.run({
    stage: "step_script",
    script: contractScript(["true"]),
    variables: [{
      key: "CI_JOB_STATUS",
      value: "success",
      public: true,
      file: false,
      masked: false,
      raw: false,
    }],
  }, never());
  await s.executor.cleanup();

  const calls = await s.calls();
  const [config, prepare, run, cleanup] = calls;
  const tempDir = config!.env["TMPDIR"]!;
  for (const call of calls) {
    assert.equal(call.env["PWD"], tempDir, call.role);
    assert.equal(call.env["TMPDIR"], tempDir, call.role);
    assert.equal(call.env["BUILD_FAILURE_EXIT_CODE"], "1", call.role);
    assert.equal(call.env["SYSTEM_FAILURE_EXIT_CODE"], "2", call.role);
    assert.equal(call.env["BUILD_EXIT_CODE_FILE"], `${tempDir}/build_exit_code`, call.role);
    assert.equal(call.env["JOB_RESPONSE_FILE"], `${tempDir}/response.json`, call.role);
    assert.equal(call.env["RUNNER_SIDE"], "from-runner", call.role);
    assert.equal(
      call.env["CUSTOM_ENV_CI_JOB_SERVICES"],
      '[{"name":"redis:7","alias":"","entrypoint":null,"command":null},' +
        '{"name":"postgres:16","alias":"db","entrypoint":["docker-entrypoint.sh"],"command":null}]',
    );
  }
  assert.equal(config!.env["CUSTOM_ENV_CI_JOB_ID"], "4711");
  assert.equal(config!.env["CUSTOM_ENV_GREETING"], "hello world");
  assert.equal(config!.env["DRIVER_TOKEN"], undefined, "job_env comes after config_exec");
  assert.equal(prepare!.env["DRIVER_TOKEN"], "t0ken");
  assert.equal(run!.env["DRIVER_TOKEN"], "t0ken");
  assert.equal(cleanup!.env["DRIVER_TOKEN"], "t0ken");
  // The stage's newer variable list replaces the initial one, cleanup included.
  assert.equal(run!.env["CUSTOM_ENV_CI_JOB_STATUS"], "success");
  assert.equal(run!.env["CUSTOM_ENV_GREETING"], undefined);
  assert.equal(cleanup!.env["CUSTOM_ENV_CI_JOB_STATUS"], "success");
});

Deno.test("CustomExecutor gives config_exec and prepare_exec the build's variables for the paths at each call", async () => {
  const s = await setup({ env: { CONFIG_JSON: '{"builds_dir": "/vm/builds"}' } });
  await s.executor.prepare(never(), {
    variables: (paths) =>
      [["CI_CONCURRENT_PROJECT_ID", "3"], ["CI_BUILDS_DIR", paths.buildsDir]].map((
        [key, value],
      ) => ({
        key: key!,
        value: value!,
        public: true,
        file: false,
        masked: false,
        raw: false,
      })),
  });
  const [config, prepare] = await s.calls();
  assert.equal(config?.env["CUSTOM_ENV_CI_CONCURRENT_PROJECT_ID"], "3");
  // config_exec sees the runner's builds_dir, prepare_exec the one config_exec returned.
  assert.equal(config?.env["CUSTOM_ENV_CI_BUILDS_DIR"], `${s.dir}/builds`);
  assert.equal(prepare?.env["CUSTOM_ENV_CI_BUILDS_DIR"], "/vm/builds");
  assert.equal(prepare?.env["CUSTOM_ENV_CI_CONCURRENT_PROJECT_ID"], "3");
  await s.executor.cleanup();
});

Deno.test("CustomExecutor writes the job payload to JOB_RESPONSE_FILE, readable only by its owner", async () => {
  const s = await setup();
  await s.executor.prepare(never());
  await s.executor.cleanup();
  const response = JSON.parse(await Deno.readTextFile(`${s.dir}/response.json`));
  assert.equal(response.id, 4711);
  assert.equal(response.token, "glcbt-job-token");
  assert.equal(response["job_info"]["project_id"], 42);
  assert.equal(response["git_info"]["repo_url"], "https://gitlab.example.com/acme/widget.git");
  assert.deepEqual(response.variables[1], {
    key: "GREETING",
    value: "hello world",
    public: true,
    file: false,
    masked: false,
    raw: false,
  });
  assert.equal(response["runner_info"].timeout, 3600);
  assert.equal((await Deno.readTextFile(`${s.dir}/response.mode`)).trim(), "600");
});

Deno.test("CustomExecutor applies config_exec's JSON and names the driver in the job log", async () => {
  const s = await setup({
    env: {
      CONFIG_JSON: JSON.stringify({
        "builds_dir": "/vm/builds",
        "cache_dir": "/vm/cache",
        "builds_dir_is_shared": true,
        "hostname": "vm-17",
        "shell": "sh",
        "driver": { "name": "test driver", "version": "v1.2.3" },
        "unknown_key": "ignored",
      }),
    },
  });
  assert.deepEqual(s.executor.paths, {
    buildsDir: `${s.dir}/builds`,
    cacheDir: `${s.dir}/cache`,
    isBuildsDirShared: false,
  });
  await s.executor.prepare(never());
  assert.deepEqual(s.executor.paths, {
    buildsDir: "/vm/builds",
    cacheDir: "/vm/cache",
    isBuildsDirShared: true,
  });
  assert.equal(s.executor.hostname, "vm-17");
  assert.equal(s.executor.shell, "sh");
  assert.equal(s.executor.isSharedEnvironment, true);
  const text = s.output.text();
  assert.match(text, /config diagnostics on stderr/);
  assert.match(text, /Using Custom executor with driver test driver v1\.2\.3\.\.\./);
  // prepare_exec's stdout and stderr go to the job log, after the usage line.
  assert.ok(text.indexOf("Using Custom executor") < text.indexOf("prepare on stdout"));
  assert.match(text, /prepare on stderr/);
  // A key it does not know is named, not silently dropped.
  assert.match(
    text,
    /WARNING: config_exec ".*driver\.sh" printed keys Runner does not know, ignored: "unknown_key" \(known: builds_dir, /,
  );
  await s.executor.cleanup();
});

Deno.test("CustomExecutor prints the usage line without driver info when config_exec gives none", async () => {
  const s = await setup({ config: { configExec: "" } });
  await s.executor.prepare(never());
  assert.match(s.output.text(), /Using Custom executor\.\.\./);
  assert.equal(s.executor.shell, "bash");
  await s.executor.cleanup();
  const s2 = await setup({ env: { CONFIG_JSON: '{"driver":{"name":"only-name"}}' } });
  await s2.executor.prepare(never());
  assert.match(s2.output.text(), /Using Custom executor with driver only-name\.\.\./);
  await s2.executor.cleanup();
});

Deno.test("CustomExecutor rejects malformed config_exec JSON, naming the problem, and cleans up", async () => {
  for (
    const [json, problem] of [
      [
        "{not json",
        /Cannot use the output of config_exec ".*driver\.sh": invalid JSON: .*"\{not json"/,
      ],
      ['["a"]', /expected a JSON object, got an array/],
      ['{"builds_dir": 5}', /"builds_dir" must be a string, got a number \(5\)/],
      ['{"job_env": {"A": 1}}', /"job_env\.A" must be a string/],
      ['{"driver": {"name": true}}', /"driver\.name" must be a string/],
    ] as const
  ) {
    const s = await setup({ env: { CONFIG_JSON: json } });
    await assert.rejects(s.executor.prepare(never()), (e: Error) => {
      assert.ok(!(e instanceof JobFailedError), "a plain error, so the prepare stage is retried");
      assert.match(e.message, problem);
      return true;
    });
    const calls = await s.calls();
    assert.deepEqual(calls.map((c) => c.role), ["config", "cleanup"], json);
  }
});

Deno.test("CustomExecutor maps BUILD_FAILURE_EXIT_CODE to the job's exit code", async () => {
  const s = await setup();
  await s.executor.prepare(never());
  // The driver writes the script's code to BUILD_EXIT_CODE_FILE and exits 1.
  assert.equal(
    await s.executor.run({ stage: "step_script", script: contractScript(["exit 42"]) }, never()),
    42,
  );
  await s.executor.cleanup();

  const bare = await setup({ env: { RUN_MODE: "no-code-file" } });
  await bare.executor.prepare(never());
  assert.equal(
    await bare.executor.run({ stage: "step_script", script: contractScript(["true"]) }, never()),
    1,
  );
  await bare.executor.cleanup();
});

Deno.test("CustomExecutor reports a garbled BUILD_EXIT_CODE_FILE as a system failure", async () => {
  const s = await setup({ env: { RUN_MODE: "bad-code-file" } });
  await s.executor.prepare(never());
  await assert.rejects(
    s.executor.run({ stage: "get_sources", script: contractScript(["true"]) }, never()),
    /BUILD_EXIT_CODE_FILE holds "not a number", not an integer exit code/,
  );
  await s.executor.cleanup();
});

Deno.test("CustomExecutor quotes at most 100 characters of a BUILD_EXIT_CODE_FILE that holds megabytes", async () => {
  const s = await setup({ env: { RUN_MODE: "huge-code-file" } });
  await s.executor.prepare(never());
  await assert.rejects(
    s.executor.run({ stage: "get_sources", script: contractScript(["true"]) }, never()),
    (e: Error) => {
      assert.equal(e.message.split("holds ")[1], `"${"y".repeat(100)}"…, not an integer exit code`);
      return true;
    },
  );
  await s.executor.cleanup();
});

Deno.test("CustomExecutor turns SYSTEM_FAILURE_EXIT_CODE and unknown codes into system failures, and still cleans up", async () => {
  for (
    const [mode, message] of [
      ["system", /run_exec ".*driver\.sh" reported a system failure \(exit code 2/],
      ["unknown", /unknown Custom executor executable exit code: run_exec ".*" exited with 7/],
    ] as const
  ) {
    const s = await setup({ env: { RUN_MODE: mode } });
    await s.executor.prepare(never());
    await assert.rejects(
      s.executor.run({ stage: "step_script", script: contractScript(["true"]) }, never()),
      (e: Error) => {
        // runBuild turns any error other than JobFailedError into runner_system_failure.
        assert.ok(!(e instanceof JobFailedError));
        assert.match(e.message, message);
        return true;
      },
    );
    await s.executor.cleanup();
    assert.deepEqual((await s.calls()).map((c) => c.role), ["config", "prepare", "run", "cleanup"]);
  }
});

Deno.test("CustomExecutor fails prepare as script_failure on BUILD_FAILURE_EXIT_CODE, and as a retriable error on a system failure", async () => {
  const build = await setup({ env: { PREPARE_EXIT: "1" } });
  await assert.rejects(build.executor.prepare(never()), (e: Error) => {
    assert.ok(e instanceof JobFailedError);
    assert.equal(e.reason, "script_failure");
    return true;
  });
  assert.deepEqual((await build.calls()).map((c) => c.role), ["config", "prepare", "cleanup"]);

  const system = await setup({ env: { PREPARE_EXIT: "2" } });
  await assert.rejects(system.executor.prepare(never()), (e: Error) => {
    assert.ok(!(e instanceof JobFailedError));
    assert.match(e.message, /prepare_exec ".*" reported a system failure/);
    return true;
  });
  // runBuild retries prepare: a second attempt runs the drivers again from the start.
  await assert.rejects(system.executor.prepare(never()));
  await system.executor.cleanup();
  assert.deepEqual((await system.calls()).map((c) => c.role), [
    "config",
    "prepare",
    "cleanup",
    "config",
    "prepare",
    "cleanup",
  ]);
});

Deno.test("CustomExecutor reports a missing run_exec as a configuration error", async () => {
  const s = await setup({ config: { runExec: "" } });
  await assert.rejects(s.executor.prepare(never()), (e: Error) => {
    assert.ok(e instanceof JobFailedError);
    assert.equal(e.reason, "runner_configuration_error");
    assert.match(e.message, /missing run_exec/);
    return true;
  });
});

Deno.test("CustomExecutor names a driver that cannot be started, and why", async () => {
  const dir = await Deno.makeTempDir({ dir: BASE });
  const file = async (name: string, text: string, mode = 0o755) => {
    await Deno.writeTextFile(`${dir}/${name}`, text, { mode });
    return `${dir}/${name}`;
  };
  for (
    const [prepareExec, why] of [
      ["/nonexistent/prepare", /: no such file$/],
      ["no-such-driver-anywhere", /: no such program in PATH$/],
      [
        `${DRIVER} prepare --verbose`,
        /: no such file \(the whole string is the program: put "prepare", "--verbose" in prepare_args\)$/,
      ],
      [
        await file("crlf.sh", "#!/bin/bash\r\necho hi\r\n"),
        /: its #! line ends with a carriage return \(Windows line endings\), so its interpreter "\/bin\/bash\\r" does not exist$/,
      ],
      [
        await file("interp.sh", "#! /no/such/interpreter -x\necho hi\n"),
        /: its interpreter "\/no\/such\/interpreter" \(its #! line\) does not exist$/,
      ],
      [
        await file("plain.sh", "#!/bin/sh\necho hi\n", 0o644),
        /: it is not executable \(chmod \+x\)$/,
      ],
      [dir, /: it is a directory$/],
    ] as const
  ) {
    const s = await setup({ config: { prepareExec } });
    await assert.rejects(s.executor.prepare(never()), (e: Error) => {
      assert.match(e.message, /^Cannot start prepare_exec "/, prepareExec);
      assert.match(e.message, why, prepareExec);
      return true;
    });
  }
});

Deno.test("CustomExecutor names the job variable too large for a driver's environment", async () => {
  const variables = (count: number, size: number) =>
    Array.from({ length: count }, (_, i) => ({ key: `BIG${i}`, value: "x".repeat(size) }));
  // One entry past Linux's 128 KiB per entry, and many entries past its total.
  for (
    const [vars, problem] of [
      [
        variables(1, 200_000),
        /Cannot start config_exec ".*": its environment entry CUSTOM_ENV_BIG0 is 200017 bytes, more than the 131072 Linux allows for one/,
      ],
      [
        variables(40, 100_000),
        /Cannot start config_exec ".*": its arguments and environment are \d+ bytes, more than the system allows \(Argument list too long\); the largest: environment entry CUSTOM_ENV_BIG\d+ \(100018 bytes\)/,
      ],
    ] as const
  ) {
    const s = await setup({ job: job({ variables: vars }) });
    await assert.rejects(s.executor.prepare(never()), problem);
  }
});

Deno.test("CustomExecutor says so when a driver removed the job's temporary directory", async () => {
  const s = await setup({ env: { PREPARE_MODE: "remove-tmpdir" } });
  await s.executor.prepare(never());
  await assert.rejects(
    s.executor.run({ stage: "get_sources", script: contractScript(["true"]) }, never()),
    /^Error: Cannot write the script of stage "get_sources" into the job's temporary directory ".*custom-executor[^"]*" \(the drivers' TMPDIR\): it is gone \(did a driver remove its TMPDIR\?\)$/,
  );
  await s.executor.cleanup();
  assert.deepEqual((await s.calls()).map((c) => c.role), ["config", "prepare", "cleanup"]);
});

Deno.test("runDriver names a working directory that is gone, not the driver", async () => {
  const cwd = `${BASE}/no-such-dir`;
  await assert.rejects(
    runDriver({
      name: "cleanup_exec",
      program: DRIVER,
      args: ["cleanup"],
      cwd,
      env: {},
      stdout: () => {},
      stderr: () => {},
      signal: never(),
      gracefulKillMs: 1000,
      forceKillMs: 1000,
    }),
    new RegExp(`: its working directory "${cwd}" is gone$`),
  );
});

Deno.test("CustomExecutor rejects a shell it cannot write scripts for", async () => {
  const s = await setup({ env: { CONFIG_JSON: '{"shell":"pwsh"}' } });
  await assert.rejects(s.executor.prepare(never()), (e: Error) => {
    assert.ok(e instanceof JobFailedError);
    assert.equal(e.reason, "runner_configuration_error");
    assert.match(e.message, /shell "pwsh" \(from config_exec's "shell"\) is not supported/);
    return true;
  });
});

Deno.test("CustomExecutor kills config_exec's process group at config_exec_timeout", async () => {
  const s = await setup({
    env: { CONFIG_MODE: "hang" },
    config: { configExecTimeout: 1, gracefulKillTimeout: 30 },
  });
  await assert.rejects(
    s.executor.prepare(never()),
    /config_exec ".*" did not finish within config_exec_timeout \(1s\) and was killed/,
  );
  assert.ok(await isGone(await readPid(`${s.dir}/config-sleep.pid`)), "sleep child survived");
  assert.deepEqual((await s.calls()).map((c) => c.role), ["config", "cleanup"]);
});

Deno.test("CustomExecutor stops config_exec once its output passes 1 MiB, not at config_exec_timeout", async () => {
  const s = await setup({ env: { CONFIG_MODE: "flood" }, config: { configExecTimeout: 3600 } });
  await assert.rejects(
    s.executor.prepare(never()),
    /config_exec ".*driver\.sh" printed more than 1048576 bytes; its output must be a JSON object/,
  );
  assert.deepEqual((await s.calls()).map((c) => c.role), ["config", "cleanup"]);
});

Deno.test("CustomExecutor says when config_exec exited but its background child held its output past config_exec_timeout", async () => {
  const s = await setup({ env: { CONFIG_MODE: "background" }, config: { configExecTimeout: 1 } });
  await assert.rejects(
    s.executor.prepare(never()),
    /config_exec ".*" exited, but processes it left in the background kept its stdout or stderr open past config_exec_timeout \(1s\) and were killed: redirect their output/,
  );
  assert.ok(await isGone(await readPid(`${s.dir}/config-sleep.pid`)), "sleep child survived");
});

Deno.test("CustomExecutor kills prepare_exec's process group at prepare_exec_timeout", async () => {
  const s = await setup({ env: { PREPARE_MODE: "hang" }, config: { prepareExecTimeout: 1 } });
  await assert.rejects(
    s.executor.prepare(never()),
    /prepare_exec ".*" did not finish within prepare_exec_timeout \(1s\) and was killed/,
  );
  assert.ok(await isGone(await readPid(`${s.dir}/prepare-sleep.pid`)), "sleep child survived");
  assert.deepEqual((await s.calls()).map((c) => c.role), ["config", "prepare", "cleanup"]);
});

Deno.test("CustomExecutor waits out an exec timeout longer than one timer holds (30 days)", async () => {
  // A timer given more than 2^31-1 ms (24.8 days) fires after 1 ms: a
  // timeout set high to mean "never" killed every driver at once.
  const month = 30 * 24 * 3600;
  const s = await setup({
    config: { configExecTimeout: month, prepareExecTimeout: month, gracefulKillTimeout: month },
  });
  await s.executor.prepare(never());
  await s.executor.cleanup();
  assert.deepEqual((await s.calls()).map((c) => c.role), ["config", "prepare", "cleanup"]);
});

Deno.test("CustomExecutor cancel kills run_exec's process group, then cleanup still runs", async () => {
  const s = await setup({ env: { RUN_MODE: "hang" } });
  await s.executor.prepare(never());
  const cancel = new AbortController();
  const running = s.executor.run(
    { stage: "step_script", script: contractScript(["true"]) },
    cancel.signal,
  );
  await s.output.waitFor("run-hanging");
  cancel.abort();
  assert.notEqual(await running, 0);
  assert.ok(await isGone(await readPid(`${s.dir}/run-sleep.pid`)), "sleep child survived");
  await s.executor.cleanup();
  assert.deepEqual((await s.calls()).map((c) => c.role), ["config", "prepare", "run", "cleanup"]);
  assert.doesNotMatch(s.output.text(), /cleanup on/);
});

Deno.test("CustomExecutor force-kills a driver group that ignores SIGTERM after graceful_kill_timeout", async () => {
  const s = await setup({ env: { RUN_MODE: "ignore-term" }, config: { gracefulKillTimeout: 1 } });
  await s.executor.prepare(never());
  const cancel = new AbortController();
  const running = s.executor.run(
    { stage: "step_script", script: contractScript(["true"]) },
    cancel.signal,
  );
  await s.output.waitFor("run-hanging");
  cancel.abort();
  assert.equal(await running, 137);
  assert.ok(await isGone(await readPid(`${s.dir}/run-sleep.pid`)), "sleep child survived");
  await s.executor.cleanup();
});

Deno.test("CustomExecutor cleanup stops a stage still running before calling cleanup_exec", async () => {
  const s = await setup({ env: { RUN_MODE: "hang" } });
  await s.executor.prepare(never());
  const running = s.executor.run(
    { stage: "step_script", script: contractScript(["true"]) },
    never(),
  );
  await s.output.waitFor("run-hanging");
  await s.executor.cleanup();
  assert.notEqual(await running, 0);
  assert.ok(await isGone(await readPid(`${s.dir}/run-sleep.pid`)), "sleep child survived");
  assert.deepEqual((await s.calls()).map((c) => c.role), ["config", "prepare", "run", "cleanup"]);
});

Deno.test("CustomExecutor cuts a cleanup_exec line longer than 64 KiB into runner log records of 64 KiB", async () => {
  const s = await setup({ env: { CLEANUP_MODE: "long-line" } });
  await s.executor.prepare(never());
  await s.executor.cleanup();
  const out = s.log.records.filter((r) => r.fields["cleanup_std"] === "out").map((r) => r.msg);
  assert.deepEqual(out.map((line) => line.length), [17, 65536, 65536, 65536, 3392, 5]);
  assert.equal(out.slice(1, 5).join(""), "x".repeat(200_000));
  assert.equal(out.at(-1), "after");
});

Deno.test("CustomExecutor logs 'Cleanup script failed' when cleanup_exec exits with BUILD_FAILURE_EXIT_CODE", async () => {
  const s = await setup({ env: { CLEANUP_EXIT: "1" } });
  await s.executor.prepare(never());
  await s.executor.cleanup();
  const failed = s.log.records.find((r) => r.msg === "Cleanup script failed");
  assert.equal(failed?.level, "warn");
  assert.match(
    String(failed?.fields["error"]),
    /^cleanup_exec ".*driver\.sh" exited with BUILD_FAILURE_EXIT_CODE \(exit status 1\)$/,
  );
});

Deno.test("CustomExecutor sends cleanup_exec output to the runner log, not the job log", async () => {
  const s = await setup({ env: { CLEANUP_EXIT: "2" } });
  await s.executor.prepare(never());
  await s.executor.cleanup();
  await s.executor.cleanup(); // a second cleanup does nothing
  assert.doesNotMatch(s.output.text(), /cleanup on/);
  const records = s.log.records;
  assert.ok(
    records.some((r) =>
      r.level === "debug" && r.msg === "cleanup on stdout" && r.fields["cleanup_std"] === "out"
    ),
  );
  assert.ok(
    records.some((r) =>
      r.level === "warn" && r.msg === "cleanup on stderr" && r.fields["cleanup_std"] === "err"
    ),
  );
  const failed = records.find((r) => r.msg === "Cleanup script failed");
  assert.match(String(failed?.fields["error"]), /cleanup_exec ".*" reported a system failure/);
  assert.equal((await s.calls()).filter((c) => c.role === "cleanup").length, 1);
});
