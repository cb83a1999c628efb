import assert from "node:assert/strict";
import { defaultRunnerConfig } from "../config/default_config.ts";
import {
  credentialHelperPrograms,
  dockerConfigPath,
  executorPermissions,
} from "./executor_permissions.ts";

Deno.test("docker executor may run exactly the credential helpers its auth configs name", () => {
  const env: Record<string, string> = { HOME: "/home/runner" };
  const perms = executorPermissions({
    runner: { ...defaultRunnerConfig("docker"), url: "https://gitlab.example.com" },
    cwd: "/srv",
    tempDir: "/tmp/x",
    stateDir: "/srv/state",
    env: (name) => env[name],
    dockerAuthConfigs: [
      JSON.stringify({ credHelpers: { "registry.example.com": "ecr-login" } }),
      JSON.stringify({ credsStore: "pass" }),
      JSON.stringify({ credsStore: "../../bin/sh" }),
      "not json",
    ],
  });
  assert.deepEqual(perms.run, ["docker-credential-ecr-login", "docker-credential-pass"]);
  assert.ok(perms.read.includes("/home/runner/.docker/config.json"));
  const none = executorPermissions({
    runner: { ...defaultRunnerConfig("docker"), url: "https://gitlab.example.com" },
    cwd: "/srv",
    tempDir: "/tmp/x",
    stateDir: "/srv/state",
    env: () => undefined,
  });
  assert.deepEqual(none.run, []);
});

Deno.test("the docker config is found like the docker CLI finds it", () => {
  assert.equal(
    dockerConfigPath((n) => ({ HOME: "/h" } as Record<string, string>)[n]),
    "/h/.docker/config.json",
  );
  assert.equal(
    dockerConfigPath((n) => ({ HOME: "/h", DOCKER_CONFIG: "/etc/d" } as Record<string, string>)[n]),
    "/etc/d/config.json",
  );
  assert.equal(dockerConfigPath(() => undefined), null);
  assert.deepEqual(credentialHelperPrograms([]), []);
});
