import assert from "node:assert/strict";
import { join } from "node:path";
import { certsDirectory, certsDirectoryWarnings } from "./certs_directory.ts";

const entry = (over: Partial<Record<string, string>> = {}) => ({
  name: "gl",
  url: "https://gitlab.example.com:8443/",
  tlsCaFile: "",
  tlsCertFile: "",
  tlsKeyFile: "",
  ...over,
});

Deno.test("the official certs directory is beside the default config.toml", () => {
  assert.equal(certsDirectory("/etc/gitlab-runner/config.toml"), "/etc/gitlab-runner/certs");
});

Deno.test("a file the official runner takes from certs/ is named with the setting that uses it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "certs-dir-" });
  try {
    for (const name of ["gitlab.example.com.crt", "gitlab.example.com.auth.crt"]) {
      await Deno.writeTextFile(join(dir, name), "-----BEGIN CERTIFICATE-----\n");
    }
    await Deno.mkdir(join(dir, "gitlab.example.com.auth.key"));
    const warnings = await certsDirectoryWarnings([entry()], dir);
    assert.deepEqual(warnings, [
      `runners[0] "gl": "${dir}/gitlab.example.com.crt" is not used: Runner does not look in ${dir} as the official runner does; set tls-ca-file = "${dir}/gitlab.example.com.crt" to use it`,
      `runners[0] "gl": "${dir}/gitlab.example.com.auth.crt" is not used: Runner does not look in ${dir} as the official runner does; set tls-cert-file = "${dir}/gitlab.example.com.auth.crt" to use it`,
    ]);
    // A setting given, a plain http URL, another host or no directory: nothing to say.
    assert.deepEqual(
      await certsDirectoryWarnings([
        entry({ tlsCaFile: "/x/ca.pem", tlsCertFile: "/x/c.pem" }),
        entry({ url: "http://gitlab.example.com/" }),
        entry({ url: "https://other.example.com/" }),
        entry({ url: "not a url" }),
      ], dir),
      [],
    );
    assert.deepEqual(await certsDirectoryWarnings([entry()], join(dir, "absent")), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
