import assert from "node:assert/strict";
import { type AuthConfigProblem, registryOf, resolveRegistryAuth } from "./registry_auth.ts";

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

Deno.test("the job's DOCKER_AUTH_CONFIG beats the runner's, which beats job credentials", () => {
  const image = "registry.example.com/group/app:1";
  const credentials = [{
    type: "registry",
    url: "registry.example.com",
    username: "gitlab-ci-token",
    password: "jt",
  }];
  const both = resolveRegistryAuth(image, {
    jobDockerAuthConfig: auths({ "registry.example.com": "job:pw1" }),
    runnerDockerAuthConfig: auths({ "registry.example.com": "runner:pw2" }),
    credentials,
  });
  assert.deepEqual(both?.auth, {
    username: "job",
    password: "pw1",
    serveraddress: "registry.example.com",
  });
  const runnerOnly = resolveRegistryAuth(image, {
    jobDockerAuthConfig: "",
    runnerDockerAuthConfig: auths({ "https://registry.example.com/": "runner:pw2" }),
    credentials,
  });
  assert.equal(runnerOnly?.auth.username, "runner");
  const payload = resolveRegistryAuth(image, {
    jobDockerAuthConfig: "",
    runnerDockerAuthConfig: "",
    credentials,
  });
  assert.equal(payload?.auth.password, "jt");
  assert.equal(payload?.source, "job payload (GitLab Registry)");
  assert.equal(
    resolveRegistryAuth("other.example.com/x", {
      jobDockerAuthConfig: "",
      runnerDockerAuthConfig: "",
      credentials,
    }),
    null,
  );
});

Deno.test("the most specific namespace entry wins and Docker Hub keys are normalised", () => {
  const config = auths({
    "registry.example.com": "host:1",
    "registry.example.com/team1": "team:2",
    "https://index.docker.io/v1/": "hub:3",
  });
  const pick = (image: string) =>
    resolveRegistryAuth(image, {
      jobDockerAuthConfig: config,
      runnerDockerAuthConfig: "",
      credentials: [],
    })
      ?.auth.username;
  assert.equal(pick("registry.example.com/team1/app:1"), "team");
  assert.equal(pick("registry.example.com/team2/app:1"), "host");
  assert.equal(pick("alpine:3"), "hub");
});

Deno.test("broken DOCKER_AUTH_CONFIG and credential helpers are reported, not fatal", () => {
  const problems: AuthConfigProblem[] = [];
  const auth = resolveRegistryAuth("alpine", {
    jobDockerAuthConfig: "{not json",
    runnerDockerAuthConfig: JSON.stringify({ credsStore: "gcloud" }),
    credentials: [],
  }, problems);
  assert.equal(auth, null);
  assert.match(problems[0]?.message ?? "", /is not valid JSON/);
  assert.match(problems[1]?.message ?? "", /credential helpers/);
});
