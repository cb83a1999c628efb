import assert from "node:assert/strict";
import official from "../../../tests/fixtures/official_exec_flags.json" with { type: "json" };
import { execRunnerFlagEntries } from "../../../scripts/gen_exec_runner_flags.ts";
import { EXEC_RUNNER_FLAGS } from "./exec_runner_flags.ts";
import { isSettingVariable, OWN_FLAGS, SHOWN_SETTING_FLAGS } from "./exec.ts";
import {
  DOCKER_CLIENT_FLAGS,
  EXEC_SETTING_FLAGS,
  execRunnerBase,
  sortGivenSettings,
  withSettingFlags,
} from "./exec_runner_settings.ts";

/** Every flag exec parses when a runner flag may be given. */
const EXEC_FLAGS = withSettingFlags(OWN_FLAGS, SHOWN_SETTING_FLAGS);
import { runnerTableFromFlags } from "../runner_flags.ts";
import { type FlagSpec, parseFlags, UsageError } from "../flags.ts";

Deno.test("exec's written-out runner flags are runner_flags.ts's (else: deno run -A scripts/gen_exec_runner_flags.ts)", () => {
  assert.deepStrictEqual(
    EXEC_RUNNER_FLAGS.map(({ hidden, envIsOneItem, ...entry }) => {
      assert.equal(hidden, true);
      assert.equal(envIsOneItem, true);
      return entry;
    }),
    execRunnerFlagEntries(),
  );
});

Deno.test("the runner flags exec's help shows are the written-out ones, with help", () => {
  for (const shown of SHOWN_SETTING_FLAGS) {
    assert.ok(shown.help);
    const written = EXEC_RUNNER_FLAGS.find((f) => f.name === shown.name);
    assert.ok(written, shown.name);
    const parsing = (f: FlagSpec) => ({
      name: f.name,
      type: f.type,
      env: f.env,
      aliases: f.aliases,
      // Only a list's variable is read differently when it is one item.
      isOneItem: f.type === "list" ? f.envIsOneItem : undefined,
    });
    assert.deepStrictEqual(parsing(shown), parsing(written));
  }
});

Deno.test("every variable of a runner flag makes exec load the runner flags (isSettingVariable)", () => {
  const missed = EXEC_SETTING_FLAGS.flatMap((f) =>
    f.env !== undefined && !isSettingVariable(f.env) && !DOCKER_CLIENT_FLAGS.has(f.name)
      ? [f.env]
      : []
  );
  assert.deepEqual(missed, []);
  // The docker client reads these itself.
  assert.equal(isSettingVariable("DOCKER_HOST"), false);
  assert.equal(isSettingVariable("HOME"), false);
  assert.equal(isSettingVariable("PATH"), false);
});

/** The official executors' families Runner does not have: main refuses them by name. */
const LACKING = /^(kubernetes|machine|parallels|virtualbox)-/;

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

Deno.test("exec reads every official exec flag and its variable outside the executors Runner lacks", () => {
  const walked = official.execFlags.filter((f) => !LACKING.test(f.name));
  assert.ok(walked.length > 120, `${walked.length} official flags walked`);
  const byName = new Map<string, FlagSpec>();
  for (const spec of EXEC_FLAGS) {
    for (const name of [spec.name, ...(spec.aliases ?? [])]) byName.set(name, spec);
  }
  const problems: string[] = [];
  for (const flag of walked) {
    const ours = byName.get(flag.name);
    if (!ours) problems.push(`--${flag.name} is not read`);
    // `--executor` is exec's own, as the official exec's subcommand was (it ignored RUNNER_EXECUTOR).
    else if (flag.name !== "executor" && (ours.env ?? "") !== flag.env) {
      problems.push(`--${flag.name} reads ${ours.env ?? "no variable"}, upstream ${flag.env}`);
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("every official exec runner flag, and its variable, sets its config key or is refused naming it as official", () => {
  const problems: string[] = [];
  for (const flag of official.execFlags) {
    if (LACKING.test(flag.name) || flag.key === null || flag.name === "executor") continue;
    const value = sample(flag.goType);
    const args = value === null ? [`--${flag.name}`] : [`--${flag.name}`, value];
    for (const executor of ["shell", "docker", "ssh", "custom", "docker+ssh"]) {
      const fromArgs = parseFlags(args, EXEC_FLAGS, () => undefined, { takesArguments: true });
      let acting;
      try {
        acting = sortGivenSettings(fromArgs, executor).acting;
      } catch (error) {
        assert.ok(error instanceof UsageError);
        const owner = /^(docker|ssh|custom)-/.exec(flag.name)?.[1];
        const expected = owner !== undefined && owner !== executor &&
            !(executor === "docker+ssh" && (owner === "docker" || owner === "ssh"))
          ? owner === "docker"
            ? `--${flag.name} is for the docker executors: add --executor docker or docker+ssh`
            : `--${flag.name} is for the ${owner} executor: add --executor ${owner}`
          : `--${flag.name} is an official flag of gitlab-runner exec that runner exec does not take: `;
        if (!error.message.startsWith(expected)) problems.push(error.message);
        continue;
      }
      if (acting === null || tableAt(runnerTableFromFlags(acting), flag.key) === undefined) {
        problems.push(`--${flag.name} (${executor}) sets nothing at ${flag.key}`);
      }
      if (!flag.env) continue;
      const env = (name: string) => name === flag.env ? (value ?? "true") : undefined;
      const fromEnv = sortGivenSettings(parseFlags([], EXEC_FLAGS, env), executor);
      const isRead = fromEnv.acting !== null &&
        tableAt(runnerTableFromFlags(fromEnv.acting), flag.key) !== undefined;
      const isWarned = fromEnv.warnings.some((w) => w.startsWith(`${flag.env} (--${flag.name}`));
      // The DOCKER_* variables are not read with the shell executor, and the
      // docker client's own ones are left to it.
      const isSkipped = (flag.name.startsWith("docker-") && !executor.startsWith("docker")) ||
        DOCKER_CLIENT_FLAGS.has(flag.name);
      if (isRead === (isWarned || isSkipped)) {
        problems.push(`${flag.env} (${executor}): read ${isRead}, warned ${isWarned}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("exec's runner entry from flags has the given keys over the executor's defaults; a value every job would fail on is refused naming the flag", async () => {
  const parse = (args: string[]) =>
    sortGivenSettings(parseFlags(args, EXEC_FLAGS, () => undefined), "docker").acting!;
  const { runner, warnings } = await execRunnerBase(
    parse(["--docker-privileged", "--docker-volumes", "/a:/b", "--cache-s3-bucket-name", "b"]),
    "docker",
  );
  assert.equal(runner.docker.privileged, true);
  assert.deepEqual(runner.docker.volumes, ["/a:/b"]);
  assert.equal(runner.cache.s3.bucketName, "b");
  // The docker executor's defaults stay.
  assert.equal(runner.safeDirectoryCheckout, true);
  // A key the entry does not use is named with its flag, as config.toml's load names it.
  assert.deepEqual(warnings, [
    'Flag --cache-s3-bucket-name: key runners[0].cache.s3.BucketName is not used: [runners.cache] Type is not set, so jobs keep their cache in cache_dir on this host (set Type = "s3" to use it)',
  ]);
  await assert.rejects(
    execRunnerBase(parse(["--docker-cpus", "many"]), "docker"),
    (error: Error) =>
      error instanceof UsageError &&
      /^Flag --docker-cpus: key runners\[0\]\.docker\.cpus = "many" is not valid/.test(
        error.message,
      ),
  );
});
