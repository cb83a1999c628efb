/**
 * End to end: `runner register | verify | unregister | list | lint | --version`
 * against the fake GitLab, as a user's script would call them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { MAIN_MODULE, runCli } from "../fixtures/runner_process.ts";

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "runner-register-" });
}

Deno.test("register with a glrt- token verifies it and writes config.toml 0600 with a system id", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await tempDir();
  const config = join(dir, "config.toml");
  const res = await runCli([
    "register",
    "--non-interactive",
    "--url",
    gitlab.url,
    "--token",
    fake.token,
    "--executor",
    "shell",
    "--name",
    "box-1",
    "--config",
    config,
  ]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /Runner registered successfully/);
  const text = await Deno.readTextFile(config);
  assert.match(text, /name = "box-1"/);
  assert.match(text, new RegExp(`token = "${fake.token}"`));
  assert.match(text, new RegExp(`id = ${fake.id}`));
  assert.match(text, /executor = "shell"/);
  assert.equal((await Deno.stat(config)).mode! & 0o777, 0o600);
  assert.doesNotMatch(res.stderr, /deprecated/);
  const systemId = await Deno.readTextFile(join(dir, ".runner_system_id"));
  assert.match(systemId, /^[sr]_[0-9a-zA-Z]{12}$/);
  assert.deepEqual(gitlab.runnerOf(fake.id)?.managers, [systemId]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register with a glrt- token refuses server-owned options such as --locked", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await tempDir();
  const res = await runCli([
    "register",
    "-n",
    "-u",
    gitlab.url,
    "-t",
    fake.token,
    "--executor",
    "shell",
    "--locked=false",
    "-c",
    join(dir, "config.toml"),
  ]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /--locked/);
  assert.match(
    res.stderr,
    /cannot be specified when registering with a runner authentication token/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register with a glrt- token refuses server-owned options set in the environment, naming the variables; their defaults pass", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await tempDir();
  const config = join(dir, "config.toml");
  const args = [
    "register",
    "-n",
    "-u",
    gitlab.url,
    "-t",
    fake.token,
    "--executor",
    "shell",
    "-c",
    config,
  ];
  const res = await runCli(args, {
    env: { RUNNER_TAG_LIST: "linux", REGISTER_RUN_UNTAGGED: "true" },
  });
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /specifically REGISTER_RUN_UNTAGGED, RUNNER_TAG_LIST\)/);
  await assert.rejects(Deno.stat(config));
  const defaults = await runCli([...args, "--locked=true", "--paused=false"]);
  assert.equal(defaults.code, 0, defaults.stderr);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register with both --token and --registration-token uses --token, says -r is not used, and a glrt- --token still refuses server-owned options", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await tempDir();
  const config = join(dir, "config.toml");
  const args = [
    "register",
    "-n",
    "-u",
    gitlab.url,
    "-t",
    fake.token,
    "-r",
    "GR1348941fake-registration",
    "--executor",
    "shell",
    "-c",
    config,
  ];
  const refused = await runCli([...args, "--paused"]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(
    refused.stderr,
    /WARNING: --registration-token is not used: the token of --token is/,
  );
  assert.match(refused.stderr, /reserved \(specifically --paused\)/);
  const res = await runCli(args);
  assert.equal(res.code, 0, res.stderr);
  assert.match(await Deno.readTextFile(config), new RegExp(`token = "${fake.token}"`));
  assert.equal(gitlab.requestsTo("register_runner").length, 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register -t with a token that is not a glrt- one verifies it and names the registration options it does not send", async () => {
  await using gitlab = await FakeGitLab.start();
  const legacy = gitlab.createRunner({ kind: "registered" });
  const dir = await tempDir();
  const config = join(dir, "config.toml");
  const res = await runCli(
    [
      "register",
      "-n",
      "-u",
      gitlab.url,
      "-t",
      legacy.token,
      "--executor",
      "shell",
      "--paused",
      "-c",
      config,
    ],
    { env: { RUNNER_TAG_LIST: "linux" } },
  );
  assert.equal(res.code, 0, res.stderr);
  assert.match(
    res.stderr,
    /WARNING: --paused, RUNNER_TAG_LIST are not used: a --token that is not a glrt- one only verifies/,
  );
  assert.match(await Deno.readTextFile(config), new RegExp(`token = "${legacy.token}"`));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register with REGISTRATION_TOKEN takes the legacy flow with tags from RUNNER_TAG_LIST, warning that registration tokens are deprecated", async () => {
  await using gitlab = await FakeGitLab.start();
  const dir = await tempDir();
  const config = join(dir, "config.toml");
  const res = await runCli(["register", "--non-interactive", "--config", config], {
    env: {
      CI_SERVER_URL: gitlab.url,
      REGISTRATION_TOKEN: "GR1348941fake-registration",
      RUNNER_EXECUTOR: "shell",
      RUNNER_NAME: "legacy-box",
      RUNNER_TAG_LIST: "linux, fast",
      RUNNER_BUILDS_DIR: "/srv/builds",
    },
  });
  assert.equal(res.code, 0, res.stderr);
  const registered = gitlab.runners().find((r) => r.description === "legacy-box");
  assert.ok(registered, "GitLab knows the new runner");
  assert.deepEqual(registered.tags, ["linux", "fast"]);
  assert.match(
    res.stderr,
    /Registration tokens .* are deprecated since GitLab Runner 15\.6: create the runner in GitLab and register it with its authentication token \(glrt-…\)/,
  );
  const text = await Deno.readTextFile(config);
  assert.match(text, new RegExp(`token = "${registered.token}"`));
  assert.match(text, /builds_dir = "\/srv\/builds"/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register refuses a GitLab URL without http or https before anything, naming it", async () => {
  const dir = await tempDir();
  const config = join(dir, "sub", "config.toml");
  for (const url of ["gitlab.example.com", "ftp://gitlab.example.com"]) {
    const res = await runCli([
      "register",
      "-n",
      "-u",
      url,
      "-t",
      "glrt-x",
      "--executor",
      "shell",
      "-c",
      config,
    ]);
    assert.equal(res.code, 1, res.stderr);
    assert.match(
      res.stderr,
      new RegExp(`^ERROR: Invalid GitLab URL "${url}": give an absolute http or https URL`, "m"),
    );
    assert.doesNotMatch(res.stderr, /FATAL|\n +at /);
  }
  await assert.rejects(Deno.stat(join(dir, "sub")), "nothing written");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register trims the URL, tokens and name as upstream does: a variable read from a secret file ends in a newline", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await tempDir();
  const legacy = join(dir, "legacy.toml");
  const res = await runCli(["register", "-n", "--executor", "shell", "-c", legacy], {
    env: {
      CI_SERVER_URL: ` ${gitlab.url}\n`,
      REGISTRATION_TOKEN: "GR1348941fake-registration\n",
      RUNNER_NAME: "box\n",
    },
  });
  assert.equal(res.code, 0, res.stderr);
  const text = await Deno.readTextFile(legacy);
  assert.match(text, new RegExp(`url = "${gitlab.url}"\n`));
  assert.match(text, /name = "box"\n/);
  const created = join(dir, "created.toml");
  const res2 = await runCli([
    "register",
    "-n",
    "-u",
    gitlab.url,
    "--executor",
    "shell",
    "-c",
    created,
  ], {
    env: { CI_SERVER_TOKEN: `${fake.token}\n` },
  });
  assert.equal(res2.code, 0, res2.stderr);
  assert.match(await Deno.readTextFile(created), new RegExp(`token = "${fake.token}"\n`));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register names the TLS file it cannot use: an unreadable or certificate-less tls-ca-file warns, a bad client certificate fails", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await tempDir();
  const notPem = join(dir, "not.pem");
  await Deno.writeTextFile(notPem, "not a certificate\n");
  const base = ["register", "-n", "-u", gitlab.url, "-t", fake.token, "--executor", "shell"];
  const missing = await runCli([
    ...base,
    "--tls-ca-file",
    join(dir, "missing.pem"),
    "-c",
    join(dir, "a.toml"),
  ]);
  assert.equal(missing.code, 0, missing.stderr);
  assert.match(
    missing.stderr,
    /WARNING: Cannot use tls-ca-file, using system roots only .*file=.*missing\.pem/,
  );
  const empty = await runCli([...base, "--tls-ca-file", notPem, "-c", join(dir, "b.toml")]);
  assert.equal(empty.code, 0, empty.stderr);
  assert.match(
    empty.stderr,
    /WARNING: Cannot use tls-ca-file.*it holds no PEM certificate.*file=.*not\.pem/,
  );
  const cert = await runCli([
    ...base,
    "--tls-cert-file",
    notPem,
    "--tls-key-file",
    notPem,
    "-c",
    join(dir, "c.toml"),
  ]);
  assert.equal(cert.code, 1, cert.stderr);
  assert.match(
    cert.stderr,
    new RegExp(`Cannot use tls-cert-file "${notPem}", tls-key-file "${notPem}": `),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register with a wrong registration token fails and writes no runner", async () => {
  await using gitlab = await FakeGitLab.start();
  const dir = await tempDir();
  const config = join(dir, "config.toml");
  const res = await runCli([
    "register",
    "-n",
    "--url",
    gitlab.url,
    "--registration-token",
    "GR1348941wrong",
    "--executor",
    "shell",
    "-c",
    config,
  ]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /Registering runner\.\.\. failed/);
  await assert.rejects(Deno.stat(config));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verify reports valid and removed runners; --delete drops the removed one", async () => {
  await using gitlab = await FakeGitLab.start();
  const good = gitlab.createRunner({ kind: "created" });
  const dir = await tempDir();
  const config = join(dir, "config.toml");
  await Deno.writeTextFile(
    config,
    `concurrent = 1\n[[runners]]\nname = "good"\nurl = "${gitlab.url}"\ntoken = "${good.token}"\nexecutor = "shell"\n` +
      `[[runners]]\nname = "gone"\nurl = "${gitlab.url}"\ntoken = "glrt-doesnotexist123"\nexecutor = "shell"\n`,
  );
  const res = await runCli(["verify", "--delete", "-c", config]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stderr, /Verifying runner\.\.\. is valid.*name=good/);
  assert.match(res.stderr, /Verifying runner\.\.\. is removed.*name=gone/);
  const text = await Deno.readTextFile(config);
  assert.match(text, /name = "good"/);
  assert.doesNotMatch(text, /name = "gone"/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verify exits 1 naming a runner GitLab no longer knows unless --delete removes it, and 0 with no runners to verify", async () => {
  await using gitlab = await FakeGitLab.start();
  const good = gitlab.createRunner({ kind: "created" });
  const dir = await tempDir();
  const config = join(dir, "config.toml");
  const text =
    `concurrent = 1\n[[runners]]\nname = "good"\nurl = "${gitlab.url}"\ntoken = "${good.token}"\nexecutor = "shell"\n` +
    `[[runners]]\nname = "gone"\nurl = "${gitlab.url}"\ntoken = "glrt-doesnotexist123"\nexecutor = "shell"\n`;
  await Deno.writeTextFile(config, text);
  const res = await runCli(["verify", "-c", config]);
  assert.equal(res.code, 1, res.stderr);
  assert.match(
    res.stderr,
    /ERROR: Failed to verify runners: "gone" is no longer known to GitLab \(--delete removes it from /,
  );
  assert.equal(await Deno.readTextFile(config), text, "without --delete the file is kept");
  assert.equal((await runCli(["verify", "-n", "good", "-c", config])).code, 0);
  const empty = join(dir, "empty.toml");
  await Deno.writeTextFile(empty, "concurrent = 1\n");
  const none = await runCli(["verify", "-c", empty]);
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stderr, /No runners to verify in /);
  const unmatched = await runCli(["verify", "-n", "other", "-c", empty]);
  assert.equal(unmatched.code, 1);
  assert.match(unmatched.stderr, /No runner matches the given name, URL or token/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("unregister --name removes the runner from GitLab and from config.toml; list shows the rest", async () => {
  await using gitlab = await FakeGitLab.start();
  const a = gitlab.createRunner({ kind: "created" });
  const b = gitlab.createRunner({ kind: "registered" });
  const dir = await tempDir();
  const config = join(dir, "config.toml");
  await Deno.writeTextFile(
    config,
    `[[runners]]\nname = "a"\nurl = "${gitlab.url}"\ntoken = "${a.token}"\nexecutor = "shell"\n` +
      `[[runners]]\nname = "b"\nurl = "${gitlab.url}"\ntoken = "${b.token}"\nexecutor = "shell"\n`,
  );
  const res = await runCli(["unregister", "--name", "b", "-c", config]);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(gitlab.runnerOf(b.id), undefined, "legacy runner deleted in GitLab");
  assert.ok(gitlab.requestsTo("unregister_runner").length >= 1);
  const list = await runCli(["list", "-c", config]);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /^a +Executor=shell Token=\S+ URL=/m);
  assert.doesNotMatch(list.stdout, /^b /m);
  assert.doesNotMatch(list.stdout, new RegExp(a.token), "list never prints the whole token");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("unregister --token alone finds the runner in config.toml (CI_SERVER_TOKEN trimmed); --name with --token takes the one with both; a shared --name takes the first", async () => {
  await using gitlab = await FakeGitLab.start();
  const a = gitlab.createRunner({ kind: "registered" });
  const b = gitlab.createRunner({ kind: "registered" });
  const e = gitlab.createRunner({ kind: "registered" });
  const c = gitlab.createRunner({ kind: "created" });
  const dir = await tempDir();
  const config = join(dir, "config.toml");
  const entry = (name: string, token: string) =>
    `[[runners]]\nname = "${name}"\nurl = "${gitlab.url}"\ntoken = "${token}"\nexecutor = "shell"\n`;
  await Deno.writeTextFile(
    config,
    entry("dup", a.token) + entry("dup", b.token) + entry("dup", e.token) + entry("c", c.token),
  );
  const names = async () =>
    [...(await Deno.readTextFile(config)).matchAll(/token = "(.*)"/g)].map((m) => m[1]);

  // Makes this host's runner manager of c, which unregister removes.
  assert.equal((await runCli(["verify", "--name", "c", "-c", config])).code, 0);
  const byToken = await runCli(["unregister", "--token", c.token, "-c", config]);
  assert.equal(byToken.code, 0, byToken.stderr);
  assert.equal(gitlab.requestsTo("unregister_runner_manager").length, 1);
  assert.deepEqual(await names(), [a.token, b.token, e.token]);

  const both = await runCli(["unregister", "--name", "dup", "--token", b.token, "-c", config]);
  assert.equal(both.code, 0, both.stderr);
  assert.equal(gitlab.runnerOf(b.id), undefined);
  assert.notEqual(gitlab.runnerOf(a.id), undefined, "the other runners named dup stay");
  assert.deepEqual(await names(), [a.token, e.token]);

  const shared = await runCli(["unregister", "--name", "dup", "-c", config]);
  assert.equal(shared.code, 0, shared.stderr);
  assert.match(shared.stderr, /2 runners are named "dup" in .*: unregistering the first/);
  assert.equal(gitlab.runnerOf(a.id), undefined);
  assert.notEqual(gitlab.runnerOf(e.id), undefined);
  assert.deepEqual(await names(), [e.token]);

  const fromSecret = await runCli(["unregister", "-c", config], {
    env: { CI_SERVER_TOKEN: `${e.token}\n` },
  });
  assert.equal(fromSecret.code, 0, fromSecret.stderr);
  assert.deepEqual(await names(), []);

  const unknown = await runCli(["unregister", "--token", "glrt-notinthefile1", "-c", config]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /No runner with token "\S+" in .*give its --url too/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("lint names file, line and key of a bad value and fails on unknown keys", async () => {
  const dir = await tempDir();
  const bad = join(dir, "bad.toml");
  await Deno.writeTextFile(bad, `concurrent = 2\n\n[[runners]]\nname = "x"\nlimit = "many"\n`);
  const res = await runCli(["lint", "-c", bad]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, new RegExp(`${bad.replaceAll("/", "\\/")}:5: .*runners\\[0\\]\\.limit`));
  const unknown = join(dir, "unknown.toml");
  await Deno.writeTextFile(unknown, `concurrent = 2\nconcurent = 3\n`);
  const res2 = await runCli(["lint", "-c", unknown]);
  assert.equal(res2.code, 1);
  assert.match(res2.stderr, /:2: .*concurent/);
  const broken = join(dir, "broken.toml");
  await Deno.writeTextFile(broken, `concurrent = 2\n[[runners]\n`);
  const res3 = await runCli(["run", "-c", broken]);
  assert.notEqual(res3.code, 0, "run refuses a config that is not TOML");
  assert.match(res3.stderr, /broken\.toml:2/);
  // Every bad value, each with its line, as lint names them: not "(and 1 more problems)".
  const two = join(dir, "two.toml");
  await Deno.writeTextFile(two, `concurrent = -1\n[[runners]]\nname = "x"\nlimit = "many"\n`);
  const res4 = await runCli(["run", "-c", two]);
  assert.equal(res4.code, 1, res4.stderr);
  assert.deepEqual(res4.stderr.split("\n").filter((l) => l.startsWith("ERROR: ")), [
    `ERROR: ${two}:1: key concurrent must be 1 or more, got -1`,
    `ERROR: ${two}:4: key runners[0].limit must be an integer, got "many"`,
  ]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("--version prints version, revision, Deno version and platform", async () => {
  const res = await runCli(["--version"]);
  assert.equal(res.code, 0);
  assert.match(res.stdout, /^Version: +\d+\.\d+\.\d+/m);
  assert.match(res.stdout, /^Git revision: /m);
  assert.match(res.stdout, /^Deno version: +deno\d/m);
  assert.match(res.stdout, /^OS\/Arch: +(linux|darwin|windows)\/(amd64|arm64)/m);
});

Deno.test("register asks for what is missing when stdin is a terminal", async (t) => {
  const script = await new Deno.Command("sh", { args: ["-c", "command -v script"] }).output();
  if (!script.success) {
    // deno-lint-ignore no-console -- a skipped test says why
    console.warn("SKIP: util-linux `script` (a pseudo-terminal) is not installed");
    t.step({ name: "skipped", ignore: true, fn() {} });
    return;
  }
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await tempDir();
  const config = join(dir, "config.toml");
  const command = [
    Deno.execPath(),
    "run",
    "--allow-all",
    "--quiet",
    MAIN_MODULE,
    "register",
    "-c",
    config,
  ]
    .map((a) => `'${a}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    env: { DENO_NO_UPDATE_CHECK: "1", PATH: Deno.env.get("PATH") ?? "" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(`${gitlab.url}\n${fake.token}\nbox-from-prompt\nshell\n`),
  );
  await writer.close();
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, stdout);
  assert.match(stdout, /Enter the GitLab instance URL/);
  assert.match(stdout, /Enter a name for the runner: \[/);
  const text = await Deno.readTextFile(config);
  assert.match(text, /name = "box-from-prompt"/);
  assert.match(text, /executor = "shell"/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register at a terminal asks again after an empty or relative URL or an unknown executor, as upstream", async (t) => {
  const script = await new Deno.Command("sh", { args: ["-c", "command -v script"] }).output();
  if (!script.success) {
    t.step({ name: "skipped: util-linux `script` is not installed", ignore: true, fn() {} });
    return;
  }
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await tempDir();
  const config = join(dir, "config.toml");
  const command = [
    Deno.execPath(),
    "run",
    "--allow-all",
    "--quiet",
    MAIN_MODULE,
    "register",
    "-c",
    config,
  ]
    .map((a) => `'${a}'`).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    env: { DENO_NO_UPDATE_CHECK: "1", PATH: Deno.env.get("PATH") ?? "" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(
      `\ngitlab.example.com\n${gitlab.url}\n${fake.token}\nbox\nshel\nshell\n`,
    ),
  );
  await writer.close();
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, stdout);
  assert.equal(stdout.split("Enter the GitLab instance URL").length, 4, stdout);
  assert.match(
    stdout,
    /ERROR: Invalid GitLab URL "gitlab.example.com": give an absolute http or https URL/,
  );
  assert.match(stdout, /ERROR: Invalid executor specified: "shel"/);
  assert.equal(stdout.split("Enter an executor").length, 3, stdout);
  assert.match(await Deno.readTextFile(config), /executor = "shell"/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register without --non-interactive reads the answers piped in, in the official order (legacy: description, tags, note, executor)", async () => {
  await using gitlab = await FakeGitLab.start();
  const dir = await tempDir();
  const config = join(dir, "config.toml");
  const answers = [
    gitlab.url,
    "GR1348941fake-registration",
    "piped-box",
    "linux,fast",
    "ask ops",
    "shell",
  ];
  const res = await runCli(["register", "-c", config], { stdin: answers.join("\n") + "\n" });
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /Enter optional maintenance note for the runner:/);
  const registered = gitlab.runners().find((r) => r.description === "piped-box");
  assert.ok(registered, res.stdout);
  assert.deepEqual(registered.tags, ["linux", "fast"]);
  const body = gitlab.requestsTo("register_runner")[0]?.json as Record<string, unknown>;
  assert.equal(body["maintenance_note"], "ask ops");
  assert.match(await Deno.readTextFile(config), /executor = "shell"/);

  const glrt = gitlab.createRunner({ kind: "created" });
  const second = join(dir, "second.toml");
  const ended = await runCli(["register", "-c", second], {
    stdin: `${gitlab.url}\n${glrt.token}\n`,
  });
  assert.equal(ended.code, 1, "input ends before the executor");
  assert.match(ended.stderr, /Register needs an executor/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register writes [runners.cache] and [runners.cache.s3] from the official --cache-* flags and CACHE_* variables", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await tempDir();
  const config = join(dir, "config.toml");
  const res = await runCli([
    "register",
    "--non-interactive",
    "--url",
    gitlab.url,
    "--token",
    fake.token,
    "--executor",
    "shell",
    "--cache-type",
    "s3",
    "--cache-shared",
    "--cache-max_uploaded_archive_size",
    "1048576",
    "--cache-s3-server-address",
    "127.0.0.1:9000",
    "--cache-s3-access-key",
    "AKEXAMPLE",
    "--cache-s3-bucket-location",
    "eu-west-1",
    "--cache-s3-insecure",
    "--cache-s3-authentication_type",
    "access-key",
    "--config",
    config,
  ], { env: { CACHE_S3_BUCKET_NAME: "runner-cache", CACHE_S3_SECRET_KEY: "s3cret" } });
  assert.equal(res.code, 0, res.stderr);
  const text = await Deno.readTextFile(config);
  assert.match(text, /\[runners\.cache\]\nType = "s3"/);
  assert.match(text, /Shared = true/);
  assert.match(text, /MaxUploadedArchiveSize = 1048576/);
  assert.match(text, /\[runners\.cache\.s3\]/);
  assert.match(text, /ServerAddress = "127\.0\.0\.1:9000"/);
  assert.match(text, /AccessKey = "AKEXAMPLE"/);
  assert.match(text, /SecretKey = "s3cret"/);
  assert.match(text, /BucketName = "runner-cache"/);
  assert.match(text, /BucketLocation = "eu-west-1"/);
  assert.match(text, /Insecure = true/);
  assert.match(text, /AuthenticationType = "access-key"/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register writes [runners.cache.azure] from the official --cache-azure-* flags and CACHE_AZURE_* variables", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await tempDir();
  const config = join(dir, "config.toml");
  const res = await runCli([
    "register",
    "--non-interactive",
    "--url",
    gitlab.url,
    "--token",
    fake.token,
    "--executor",
    "shell",
    "--cache-type",
    "azure",
    "--cache-azure-account-name",
    "runnercache",
    "--cache-azure-container-name",
    "runner-cache",
    "--cache-azure-storage-domain",
    "blob.core.chinacloudapi.cn",
    "--config",
    config,
  ], { env: { CACHE_AZURE_ACCOUNT_KEY: "a2V5" } });
  assert.equal(res.code, 0, res.stderr);
  const text = await Deno.readTextFile(config);
  assert.match(text, /\[runners\.cache\]\nType = "azure"/);
  assert.match(text, /\[runners\.cache\.azure\]/);
  assert.match(text, /AccountName = "runnercache"/);
  assert.match(text, /AccountKey = "a2V5"/);
  assert.match(text, /ContainerName = "runner-cache"/);
  assert.match(text, /StorageDomain = "blob\.core\.chinacloudapi\.cn"/);
  assert.doesNotMatch(res.stderr, /accepted but not supported/);
  await Deno.remove(dir, { recursive: true });
});
