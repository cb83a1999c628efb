/**
 * The project's publish and release jobs (.gitlab-ci.yml), run with
 * `runner exec` against the fake GitLab's generic package registry and
 * releases API, as GitLab would run them on a tag: every binary of
 * scripts/compile.ts and its .sha256 land in package "runner" at the tag's
 * version, and the release links each of them.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FakeGitLab } from "../fixtures/fake_gitlab.ts";
import { SampleProject } from "../exec/_exec_cli.ts";
import { sha256Line, TARGETS } from "../../scripts/compile.ts";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const TAG = "v1.2.3";
const PROJECT_ID = "42";

/** What a runner gets from `POST /jobs/request`: a running job and its token. */
async function runningJobToken(gitlab: FakeGitLab): Promise<string> {
  const runner = gitlab.createRunner({ kind: "created" });
  gitlab.enqueueJob({ script: ["true"] });
  const res = await fetch(`${gitlab.url}/api/v4/jobs/request`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: runner.token }),
  });
  assert.equal(res.status, 201);
  return ((await res.json()) as { token: string }).token;
}

async function projectWithBinaries(): Promise<SampleProject> {
  const files: Record<string, string> = {
    ".gitlab-ci.yml": await Deno.readTextFile(join(ROOT, ".gitlab-ci.yml")),
  };
  for (const name of Object.values(TARGETS)) files[`dist/${name}`] = `binary of ${name}\n`;
  const project = await SampleProject.create(files);
  for (const name of Object.values(TARGETS)) {
    const line = await sha256Line(join(project.dir, "dist", name));
    await Deno.writeTextFile(join(project.dir, "dist", `${name}.sha256`), line);
  }
  return project;
}

Deno.test("runner exec --list shows the publish and release jobs on a tag only", async () => {
  await using project = await projectWithBinaries();
  const onTag = await project.exec("--list", "--variable", `CI_COMMIT_TAG=${TAG}`);
  assert.equal(onTag.code, 0, onTag.stderr);
  assert.match(onTag.stdout, /^\d+\s+publish\s+release\s/m);
  assert.match(onTag.stdout, /^\d+\s+release\s+release\s+on_success\s+publish$/m);
  const onBranch = await project.exec("--list");
  assert.equal(onBranch.code, 0, onBranch.stderr);
  assert.doesNotMatch(onBranch.stdout, /^\d+\s+(publish|release)\s/m);
});

Deno.test("publish and release upload every binary with its checksum and link them in a release", async () => {
  await using gitlab = await FakeGitLab.start();
  await using project = await projectWithBinaries();
  const token = await runningJobToken(gitlab);
  const variables = [
    `CI_COMMIT_TAG=${TAG}`,
    `CI_API_V4_URL=${gitlab.url}/api/v4`,
    `CI_PROJECT_ID=${PROJECT_ID}`,
    `CI_JOB_TOKEN=${token}`,
  ].flatMap((v) => ["--variable", v]);
  const run = await project.exec("publish", "release", ...variables);
  assert.equal(run.code, 0, run.stdout + run.stderr);

  const names = Object.values(TARGETS).flatMap((n) => [n, `${n}.sha256`]);
  assert.deepEqual(
    gitlab.packageFiles(),
    names.map((n) => `${PROJECT_ID}/runner/${TAG}/${n}`).sort(),
  );
  const binary = await Deno.readFile(join(project.dir, "dist", "runner-linux-amd64"));
  assert.deepEqual(gitlab.packageFile(`${PROJECT_ID}/runner/${TAG}/runner-linux-amd64`), binary);

  const [release, ...more] = gitlab.releases();
  assert.equal(more.length, 0);
  assert.equal(release?.["tag_name"], TAG);
  const links = (release?.["assets"] as { links: { name: string; url: string }[] }).links;
  assert.deepEqual(links.map((l) => l.name).sort(), [...names].sort());
  for (const link of links) {
    assert.equal(
      link.url,
      `${gitlab.url}/api/v4/projects/${PROJECT_ID}/packages/generic/runner/${TAG}/${link.name}`,
    );
  }
});

Deno.test("publish fails the job when GitLab refuses the job token", async () => {
  await using gitlab = await FakeGitLab.start();
  await using project = await projectWithBinaries();
  const run = await project.exec(
    "publish",
    "--variable",
    `CI_COMMIT_TAG=${TAG}`,
    "--variable",
    `CI_API_V4_URL=${gitlab.url}/api/v4`,
    "--variable",
    `CI_PROJECT_ID=${PROJECT_ID}`,
    "--variable",
    "CI_JOB_TOKEN=not-a-job-token",
  );
  assert.equal(run.code, 1, run.stdout + run.stderr);
  assert.match(run.stdout + run.stderr, /401 Unauthorized/);
  assert.deepEqual(gitlab.packageFiles(), []);
});
