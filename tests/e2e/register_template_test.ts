/**
 * End to end: `runner register --template-config FILE` (and
 * TEMPLATE_CONFIG_FILE) against the fake GitLab, merged as the official
 * runner merges it: the template fills what the flags leave empty, flags win,
 * a bad template stops registration with the file and the problem named.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "smol-toml";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { runCli } from "../fixtures/runner_process.ts";

type Table = Record<string, unknown>;

function readToml(text: string): { concurrent?: number; runners: Table[] } {
  // Plain objects (smol-toml's tables have no prototype) for deepEqual.
  return JSON.parse(JSON.stringify(parse(text)));
}

const TEMPLATE = `concurrent = 8

[[runners]]
  name = "from-template"
  token = "glrt-from-template"
  url = "http://template.invalid/"
  executor = "ssh"
  limit = 3
  output_limit = 8192
  environment = ["FROM_TEMPLATE=1"]
  [runners.feature_flags]
    FF_SCRIPT_SECTIONS = true
    FF_USE_DIRECT_DOWNLOAD = true
  [runners.custom_build_dir]
    enabled = false
  [runners.docker]
    image = "ruby:3.3"
    privileged = true
    [runners.docker.tmpfs]
      "/tmp" = "rw"
    [[runners.docker.services]]
      name = "redis:7"
  [runners.kubernetes]
    namespace = "ci"
  [runners.ssh]
    host = "ssh.example.test"
`;

Deno.test("register --template-config keeps the template's settings where the flags give none; flags win", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-register-template-" });
  const template = join(dir, "template.toml");
  await Deno.writeTextFile(template, TEMPLATE);
  const config = join(dir, "config.toml");
  const res = await runCli([
    "register",
    "--non-interactive",
    "--template-config",
    template,
    "--url",
    gitlab.url,
    "--token",
    fake.token,
    "--name",
    "from-flags",
    "--executor",
    "docker",
    "--docker-image",
    "alpine:3.20",
    "--limit",
    "5",
    "--feature-flags",
    "FF_USE_DIRECT_DOWNLOAD:false",
    "--docker-tmpfs",
    "/run:rw,noexec",
    "--config",
    config,
  ]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stderr, /Merging configuration from template file/);
  const written = readToml(await Deno.readTextFile(config));
  assert.equal(written.concurrent, 1, "global settings of a template are not used");
  const runner = written.runners[0]!;
  assert.equal(runner["name"], "from-flags");
  assert.equal(runner["url"], gitlab.url);
  assert.equal(runner["token"], fake.token);
  assert.equal(runner["executor"], "docker");
  assert.equal(runner["limit"], 5, "a flag wins");
  assert.equal(runner["output_limit"], 8192, "the template fills what no flag gave");
  assert.deepEqual(runner["environment"], ["FROM_TEMPLATE=1"]);
  // Maps merge key by key; a false from a flag is empty, so the template's true fills it (mergo).
  assert.deepEqual(runner["feature_flags"], {
    FF_SCRIPT_SECTIONS: true,
    FF_USE_DIRECT_DOWNLOAD: true,
  });
  assert.deepEqual(runner["custom_build_dir"], { enabled: false });
  const docker = runner["docker"] as Table;
  assert.equal(docker["image"], "alpine:3.20");
  assert.equal(docker["privileged"], true);
  assert.deepEqual(docker["tmpfs"], { "/run": "rw,noexec", "/tmp": "rw" });
  assert.deepEqual(docker["services"], [{ name: "redis:7" }]);
  assert.deepEqual(docker["volumes"], ["/cache"]);
  assert.equal(runner["kubernetes"], undefined, "sections of other executors are dropped");
  assert.equal(runner["ssh"], undefined);
  assert.match(
    res.stderr,
    /\[runners\.kubernetes\] is not written: the "docker" executor does not use it/,
  );
  assert.match(res.stderr, /\[runners\.ssh\] is not written/);
  assert.match(
    res.stderr,
    /key concurrent is not used: register takes only the \[\[runners\]\] entry/,
  );
  assert.match(res.stderr, /key runners\[0\]\.token is not used/);
  assert.match(res.stderr, /key runners\[0\]\.name is not used/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("TEMPLATE_CONFIG_FILE gives url (its $VARs expanded) and executor when no flag does", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-register-template-" });
  const template = join(dir, "template.toml");
  await Deno.writeTextFile(
    template,
    `[[runners]]\n  url = "\${TEMPLATE_GITLAB_URL}"\n  executor = "shell"\n  builds_dir = "/srv/builds"\n`,
  );
  const config = join(dir, "config.toml");
  const res = await runCli(["register", "-n", "-t", fake.token, "-c", config], {
    env: { TEMPLATE_CONFIG_FILE: template, TEMPLATE_GITLAB_URL: gitlab.url },
  });
  assert.equal(res.code, 0, res.stderr);
  const runner = readToml(await Deno.readTextFile(config)).runners[0]!;
  assert.equal(runner["url"], gitlab.url);
  assert.equal(runner["executor"], "shell");
  assert.equal(runner["builds_dir"], "/srv/builds");
  assert.equal(runner["id"], fake.id);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register refuses a bad template naming the file and the problem, before asking GitLab", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-register-template-" });
  const config = join(dir, "config.toml");
  const cases: [string, string | null, RegExp][] = [
    [
      "two.toml",
      `[[runners]]\nexecutor = "shell"\n[[runners]]\nexecutor = "docker"\n`,
      /two\.toml" must contain exactly one \[\[runners\]\] entry, it has 2/,
    ],
    [
      "none.toml",
      `concurrent = 2\n`,
      /none\.toml" must contain exactly one \[\[runners\]\] entry, it has 0/,
    ],
    [
      "badvalue.toml",
      `[[runners]]\nexecutor = "shell"\nlimit = "many"\n`,
      /badvalue\.toml:3: key runners\[0\]\.limit must be an integer, got "many"/,
    ],
    ["broken.toml", `[[runners]\n`, /broken\.toml:1: Invalid TOML/],
    [
      "labels.toml",
      `[[runners]]\nexecutor = "shell"\n[runners.labels]\n"x y" = "v"\n`,
      /labels\.toml:4: key runners\[0\]\.labels\."x y" is not a valid label key/,
    ],
    [
      "latin1.toml",
      `[[runners]]\nexecutor = "shell"\nname = "caf\u00e9"\n`,
      /latin1\.toml:3: Invalid UTF-8 at column 12: byte 0xe9/,
    ],
    ["missing.toml", null, /Cannot load the configuration template file ".*missing\.toml"/],
  ];
  for (const [name, text, expected] of cases) {
    const template = join(dir, name);
    // latin1.toml is written as Latin-1 ("é" is the single byte 0xe9), as an old editor saves it.
    const bytes = name === "latin1.toml"
      ? Uint8Array.from(text ?? "", (c) => c.charCodeAt(0))
      : new TextEncoder().encode(text ?? "");
    if (text !== null) await Deno.writeFile(template, bytes);
    const res = await runCli([
      "register",
      "-n",
      "-u",
      gitlab.url,
      "-t",
      fake.token,
      "--executor",
      "shell",
      "--template-config",
      template,
      "-c",
      config,
    ]);
    assert.notEqual(res.code, 0, name);
    assert.match(res.stderr, /Could not handle configuration merging from template file/, name);
    assert.match(res.stderr, expected, name);
  }
  assert.equal(gitlab.requestsTo("verify_runner").length, 0, "GitLab was not asked");
  await assert.rejects(Deno.stat(config));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a template with a token but no url is not warned about as a runner that never asks for jobs: the url comes from the flags", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-template-" });
  const template = join(dir, "template.toml");
  await Deno.writeTextFile(template, `[[runners]]\n  token = "glrt-x"\n  output_limit = 8192\n`);
  const config = join(dir, "config.toml");
  const res = await runCli([
    "register",
    "-n",
    "-u",
    gitlab.url,
    "-t",
    fake.token,
    "--executor",
    "shell",
    "--template-config",
    template,
    "-c",
    config,
  ]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stderr, /key runners\[0\]\.token is not used/);
  assert.doesNotMatch(res.stderr, /never asks for jobs/);
  assert.equal(readToml(await Deno.readTextFile(config)).runners[0]?.["output_limit"], 8192);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a template's unknown keys are warned about and not written, so lint passes on what register wrote", async () => {
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-template-" });
  const template = join(dir, "template.toml");
  await Deno.writeTextFile(
    template,
    `[[runners]]\n  output_limit = 8192\n  bogus_key = 1\n  [runners.docker]\n    image = "alpine"\n    bogus_docker = "x"\n`,
  );
  const config = join(dir, "config.toml");
  const res = await runCli([
    "register",
    "-n",
    "-u",
    gitlab.url,
    "-t",
    fake.token,
    "--executor",
    "docker",
    "--template-config",
    template,
    "-c",
    config,
  ]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stderr, /key runners\[0\]\.bogus_key is unknown and ignored/);
  assert.match(res.stderr, /key runners\[0\]\.docker\.bogus_docker is unknown and ignored/);
  const text = await Deno.readTextFile(config);
  assert.doesNotMatch(text, /bogus/);
  assert.match(text, /image = "alpine"/);
  const lint = await runCli(["lint", "-c", config]);
  assert.equal(lint.code, 0, lint.stderr);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("register keeps int64 integers of config.toml and of the template as written", async () => {
  // 9223372036854775807 (Go's max int64, "no limit") refused both files ("integer
  // value cannot be represented losslessly"); rounded, it would be written back changed.
  await using gitlab = await FakeGitLab.start();
  const fake = gitlab.createRunner({ kind: "created" });
  const dir = await Deno.makeTempDir({ prefix: "runner-register-int64-" });
  const template = join(dir, "template.toml");
  await Deno.writeTextFile(
    template,
    `[[runners]]\n  output_limit = 9223372036854775807\n  [runners.cache]\n` +
      `    MaxUploadedArchiveSize = 9223372036854775807\n`,
  );
  const config = join(dir, "config.toml");
  await Deno.writeTextFile(config, `concurrent = 9223372036854775807\n`);
  const res = await runCli([
    "register",
    "--non-interactive",
    "--template-config",
    template,
    "--url",
    gitlab.url,
    "--token",
    fake.token,
    "--executor",
    "shell",
    "--config",
    config,
  ]);
  assert.equal(res.code, 0, res.stderr);
  const text = await Deno.readTextFile(config);
  for (
    const line of [
      "concurrent = 9223372036854775807",
      "output_limit = 9223372036854775807",
      "MaxUploadedArchiveSize = 9223372036854775807",
    ]
  ) {
    assert.ok(text.includes(`${line}\n`), `${line} in:\n${text}`);
  }
  await Deno.remove(dir, { recursive: true });
});
