import assert from "node:assert/strict";
import { environmentProxyWarnings, proxyEnvironmentWarnings } from "./proxy_environment.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("proxy addresses Deno uses give no warning", () => {
  for (
    const value of [
      "http://proxy:3128",
      "proxy.example.com:3128",
      "http://user:pw@proxy:3128/",
      "https://proxy:443",
      "socks5://127.0.0.1:1080",
    ]
  ) {
    assert.deepEqual(proxyEnvironmentWarnings(env({ HTTPS_PROXY: value })), [], value);
  }
  assert.deepEqual(proxyEnvironmentWarnings(env({})), []);
});

Deno.test("a proxy variable Deno would ignore is named, without its credentials", () => {
  assert.deepEqual(
    proxyEnvironmentWarnings(
      env({ https_proxy: "not a url", HTTP_PROXY: "ftp://u:s3cret@proxy:21" }),
    ),
    [
      'https_proxy "not a url" is not a proxy address (http://host:port): the runner\'s requests do not use it and go directly',
      'HTTP_PROXY "ftp://proxy:21" is not a proxy address (http://host:port): the runner\'s requests do not use it and go directly',
    ],
  );
  assert.equal(proxyEnvironmentWarnings(env({ ALL_PROXY: "http://" })).length, 1);
});

Deno.test("a proxy in [[runners]] environment the runner's own transfers do not use is named", () => {
  const runner = (executor: string, environment: string[]) => ({
    name: "r",
    executor,
    environment,
  });
  assert.deepEqual(
    environmentProxyWarnings(
      [runner("docker", ["FOO=1", "HTTPS_PROXY=http://u:pw@proxy:3128", "NO_PROXY=.corp"])],
      env({ NO_PROXY: ".corp" }),
    ),
    [
      "runners[0].environment[1] HTTPS_PROXY=\"http://proxy:3128\" reaches the job's commands (git, scripts) but not the runner's artifact and cache transfers, which use the runner's own environment (HTTPS_PROXY unset)",
    ],
  );
  // The same as the runner's, or a custom executor (its helper commands run in the job): nothing.
  assert.deepEqual(
    environmentProxyWarnings(
      [
        runner("shell", ["HTTPS_PROXY=http://proxy:3128"]),
        runner("custom", ["HTTPS_PROXY=http://other:3128"]),
      ],
      env({ HTTPS_PROXY: "http://proxy:3128" }),
    ),
    [],
  );
});
