import assert from "node:assert/strict";
import { type AuthConfigProblem, registryOf, resolveRegistryAuth } from "./registry_auth.ts";
import { type CredentialHelper, credentialHelperNames } from "./credential_helper.ts";

/** Answers like docker-credential programs would, from a table; records the calls. */
class TableCredentialHelper implements CredentialHelper {
  readonly calls: string[] = [];
  constructor(readonly table: Record<string, Record<string, [string, string]>>) {}
  get(helper: string, serverUrl: string): Promise<{ username: string; secret: string }> {
    this.calls.push(`${helper} get ${serverUrl}`);
    const found = this.table[helper]?.[serverUrl];
    if (!found) return Promise.reject(new Error("credentials not found in native keychain"));
    return Promise.resolve({ username: found[0], secret: found[1] });
  }
  list(helper: string): Promise<string[]> {
    this.calls.push(`${helper} list`);
    return Promise.resolve(Object.keys(this.table[helper] ?? {}));
  }
}

const auths = (entries: Record<string, string>) =>
  JSON.stringify({
    auths: Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, { auth: btoa(v) }])),
  });

Deno.test("registryOf finds the registry host of an image name", () => {
  assert.equal(registryOf("alpine"), "docker.io");
  assert.equal(registryOf("library/alpine:3"), "docker.io");
  assert.equal(registryOf("registry.example.com/g/p:1"), "registry.example.com");
  assert.equal(registryOf("localhost:5000/p"), "localhost:5000");
});

Deno.test("the job's DOCKER_AUTH_CONFIG beats the runner's, which beats job credentials", async () => {
  const image = "registry.example.com/group/app:1";
  const credentials = [{
    type: "registry",
    url: "registry.example.com",
    username: "gitlab-ci-token",
    password: "jt",
  }];
  const both = await resolveRegistryAuth(image, {
    jobDockerAuthConfig: auths({ "registry.example.com": "job:pw1" }),
    runnerDockerAuthConfig: auths({ "registry.example.com": "runner:pw2" }),
    credentials,
  });
  assert.deepEqual(both?.auth, {
    username: "job",
    password: "pw1",
    serveraddress: "registry.example.com",
  });
  const runnerOnly = await resolveRegistryAuth(image, {
    jobDockerAuthConfig: "",
    runnerDockerAuthConfig: auths({ "https://registry.example.com/": "runner:pw2" }),
    credentials,
  });
  assert.equal(runnerOnly?.auth.username, "runner");
  const payload = await resolveRegistryAuth(image, {
    jobDockerAuthConfig: "",
    runnerDockerAuthConfig: "",
    credentials,
  });
  assert.equal(payload?.auth.password, "jt");
  assert.equal(payload?.source, "job payload (GitLab Registry)");
  assert.equal(
    await resolveRegistryAuth("other.example.com/x", {
      jobDockerAuthConfig: "",
      runnerDockerAuthConfig: "",
      credentials,
    }),
    null,
  );
});

Deno.test("the most specific namespace entry wins and Docker Hub keys are normalised", async () => {
  const config = auths({
    "registry.example.com": "host:1",
    "registry.example.com/team1": "team:2",
    "https://index.docker.io/v1/": "hub:3",
  });
  const pick = async (image: string) =>
    (await resolveRegistryAuth(image, {
      jobDockerAuthConfig: config,
      runnerDockerAuthConfig: "",
      credentials: [],
    }))
      ?.auth.username;
  assert.equal(await pick("registry.example.com/team1/app:1"), "team");
  assert.equal(await pick("registry.example.com/team2/app:1"), "host");
  assert.equal(await pick("alpine:3"), "hub");
});

Deno.test("broken DOCKER_AUTH_CONFIG and credential helpers are reported, not fatal", async () => {
  const problems: AuthConfigProblem[] = [];
  const auth = await resolveRegistryAuth("alpine", {
    jobDockerAuthConfig: "{not json",
    runnerDockerAuthConfig: JSON.stringify({ credsStore: "gcloud" }),
    credentials: [],
  }, problems);
  assert.equal(auth, null);
  assert.match(problems[0]?.message ?? "", /is not valid JSON/);
  assert.match(problems[1]?.message ?? "", /credential helpers/);
});

Deno.test("credHelpers beat credsStore, which beats auths, and only the winner runs get", async () => {
  const helpers = new TableCredentialHelper({
    store: { "registry.example.com": ["store-user", "s1"], "other.example.com": ["o", "o"] },
    ecr: { "registry.example.com": ["helper-user", "h1"] },
  });
  const config = JSON.stringify({
    auths: { "registry.example.com": { auth: btoa("auths-user:a1") } },
    credsStore: "store",
    credHelpers: { "registry.example.com": "ecr" },
  });
  const sources = { jobDockerAuthConfig: config, runnerDockerAuthConfig: "", credentials: [] };
  const auth = await resolveRegistryAuth("registry.example.com/g/app:1", sources, [], helpers);
  assert.equal(auth?.auth.username, "helper-user");
  assert.equal(auth?.auth.password, "h1");
  assert.equal(auth?.source, "$DOCKER_AUTH_CONFIG (docker-credential-ecr)");
  assert.deepEqual(helpers.calls, ["store list", "ecr get registry.example.com"]);

  const storeOnly = JSON.stringify({ credsStore: "store" });
  const fromStore = await resolveRegistryAuth(
    "other.example.com/x",
    {
      ...sources,
      jobDockerAuthConfig: storeOnly,
    },
    [],
    helpers,
  );
  assert.equal(fromStore?.auth.username, "o");
});

Deno.test("a failing credential helper is reported and the next source is used", async () => {
  const problems: AuthConfigProblem[] = [];
  const helpers = new TableCredentialHelper({});
  const auth = await resolveRegistryAuth(
    "registry.example.com/app",
    {
      jobDockerAuthConfig: JSON.stringify({ credHelpers: { "registry.example.com": "missing" } }),
      runnerDockerAuthConfig: auths({ "registry.example.com": "runner:pw" }),
      credentials: [],
    },
    problems,
    helpers,
  );
  assert.equal(auth?.auth.username, "runner");
  assert.match(problems[0]?.message ?? "", /could not be used: credentials not found/);
  const traversal: AuthConfigProblem[] = [];
  await resolveRegistryAuth(
    "alpine",
    {
      jobDockerAuthConfig: JSON.stringify({ credsStore: "../../bin/sh" }),
      runnerDockerAuthConfig: "",
      credentials: [],
    },
    traversal,
    helpers,
  );
  assert.match(traversal[0]?.message ?? "", /not a plain program name/);
  assert.deepEqual(helpers.calls, ["missing get registry.example.com"]);
});

Deno.test("an identity token from a helper is sent as identitytoken", async () => {
  const helpers = new TableCredentialHelper({ t: { "registry.example.com": ["<token>", "idt"] } });
  const auth = await resolveRegistryAuth(
    "registry.example.com/app",
    {
      jobDockerAuthConfig: JSON.stringify({ credHelpers: { "registry.example.com": "t" } }),
      runnerDockerAuthConfig: "",
      credentials: [],
    },
    [],
    helpers,
  );
  assert.equal(auth?.auth.identitytoken, "idt");
  assert.equal(auth?.auth.password, "");
});

Deno.test("credential helper names come from credsStore and credHelpers, never paths", () => {
  assert.deepEqual(
    credentialHelperNames(JSON.stringify({
      credsStore: "desktop",
      credHelpers: { a: "ecr-login", b: "../x", c: "ecr-login" },
    })),
    ["desktop", "ecr-login"],
  );
  assert.deepEqual(credentialHelperNames("not json"), []);
});
