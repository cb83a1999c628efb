import assert from "node:assert/strict";
import { maskSecrets } from "./mask_secrets.ts";
import { parseConfig } from "./parse_config.ts";
import { OFFICIAL_CONFIG_TOML } from "./_sample_configs.ts";

Deno.test("maskSecrets leaves nothing secret in the logged config", () => {
  const text = `sentry_dsn = "https://abc@sentry.example.com/1"\n` + OFFICIAL_CONFIG_TOML + `
[[runners]]
  clone_url = "https://user:pa55word@gitlab.example.com"
  [runners.ssh]
    password = "ssh-password-value"
  [runners.machine]
    MachineOptions = ["amazonec2-secret-key=aws-secret-value", "amazonec2-region=eu"]
  [runners.autoscaler.connector_config]
    password = "winrm-password-value"
`;
  const env = { T: "glrt-envtokenvalue1234" };
  const config = parseConfig(text.replace('token = "glrt-ZyXwVuTsRqPoNmLkJiHg"', 'token = "$T"'), {
    file: "config.toml",
    env,
  }).config;
  const masked = JSON.stringify(maskSecrets(config));
  for (
    const secret of [
      "AbCdEfGhIjKlMnOpQrSt",
      "envtokenvalue1234",
      "minio-secret-value",
      "minio-access",
      "pa55word",
      "ssh-password-value",
      "aws-secret-value",
      "winrm-password-value",
      "abc@sentry",
      "overlay2",
    ]
  ) {
    assert.ok(!masked.includes(secret), `${secret} leaked: ${masked}`);
  }
  const first = maskSecrets(config).runners[0];
  assert.equal(first?.token, "AbCdEfGhI[MASKED]");
  assert.deepEqual(first?.environment, ["DOCKER_DRIVER=[MASKED]", "GIT_DEPTH=[MASKED]"]);
  assert.equal(first?.docker.image, "alpine:3.20");
  assert.equal(
    config.runners[0]?.token,
    "glrt-t1_AbCdEfGhIjKlMnOpQrSt",
    "the original is untouched",
  );
});
