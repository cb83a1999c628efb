import assert from "node:assert/strict";
import { defaultConfig, defaultRunnerConfig } from "../config/default_config.ts";
import { pollerPermissions } from "./poller_permissions.ts";

function permsFor(
  edit: (r: ReturnType<typeof defaultRunnerConfig>) => void,
  sourceDir: string | null = null,
) {
  const config = defaultConfig();
  const r = defaultRunnerConfig("shell");
  r.url = "https://gitlab.example.com";
  edit(r);
  config.runners = [r];
  return pollerPermissions({
    config,
    configPath: "/etc/runner/config.toml",
    configTarget: null,
    cwd: "/srv",
    tempDir: "/tmp/p",
    execPath: "/usr/bin/runner",
    listenAddress: "",
    user: "",
    sourceDir,
  });
}

Deno.test("poller permissions: a GCS CredentialsFile is readable, S3 iam reaches the instance metadata service, RoleARN its STS", () => {
  const gcs = permsFor((r) => {
    r.cache.type = "gcs";
    r.cache.gcs.credentialsFile = "keys/gcs.json";
  });
  assert.ok(gcs.read.includes("/srv/keys/gcs.json"));
  assert.deepEqual(gcs.net, ["gitlab.example.com:443"]);

  const iam = permsFor((r) => {
    r.cache.type = "s3";
    r.cache.s3.authenticationType = "iam";
  });
  assert.deepEqual(iam.net, ["gitlab.example.com:443", "169.254.169.254:80"]);

  // RoleARN: AssumeRole at AWS's regional STS, or at an S3-compatible server's own address.
  const aws = permsFor((r) => {
    r.cache.type = "s3";
    r.cache.s3.accessKey = "AK";
    r.cache.s3.secretKey = "SK";
    r.cache.s3.bucketLocation = "eu-west-1";
    r.cache.s3.roleArn = "arn:aws:iam::1:role/cache";
  });
  assert.deepEqual(aws.net, ["gitlab.example.com:443", "sts.eu-west-1.amazonaws.com:443"]);
  const rgw = permsFor((r) => {
    r.cache.type = "s3";
    r.cache.s3.accessKey = "AK";
    r.cache.s3.secretKey = "SK";
    r.cache.s3.serverAddress = "10.0.0.5:7480";
    r.cache.s3.insecure = true;
    r.cache.s3.uploadRoleArn = "arn:aws:iam:::role/cache";
  });
  assert.deepEqual(rgw.net, ["gitlab.example.com:443", "10.0.0.5:7480"]);

  // Static keys and Azure account keys sign without the network.
  for (
    const edit of [
      (r: ReturnType<typeof defaultRunnerConfig>) => {
        r.cache.type = "s3";
        r.cache.s3.accessKey = "AK";
        r.cache.s3.secretKey = "SK";
      },
      (r: ReturnType<typeof defaultRunnerConfig>) => {
        r.cache.type = "azure";
        r.cache.azure.accountKey = "a2V5";
      },
    ]
  ) {
    assert.deepEqual(permsFor(edit).net, ["gitlab.example.com:443"]);
  }
});

Deno.test("poller permissions: from source the runner's src/ is readable (lazy imports), never writable; compiled it is not there", () => {
  const fromSource = permsFor(() => {}, "/opt/runner/src");
  assert.ok(fromSource.read.includes("/opt/runner/src"));
  assert.ok(!fromSource.write.includes("/opt/runner/src"));
  const compiled = permsFor(() => {});
  assert.ok(!compiled.read.some((p) => p.startsWith("/opt/runner")));
});
