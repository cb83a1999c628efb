import assert from "node:assert/strict";
import { JobFailedError } from "../../job/failure_reason.ts";
import { sshTarget } from "./ssh_connection.ts";

const config = {
  host: "build.example.com",
  port: "22",
  user: "ci",
  password: "",
  identityFile: "",
  disableStrictHostKeyChecking: false,
  knownHostsFile: "",
};

Deno.test("an ssh host or port that is no address fails the job naming the key", () => {
  const cases: [Partial<typeof config>, string][] = [
    [{ host: "example.com:2222" }, 'Invalid [runners.ssh] host "example.com:2222"'],
    [{ host: "ssh://example.com" }, 'Invalid [runners.ssh] host "ssh://example.com"'],
    [{ host: "ci@example.com" }, 'Invalid [runners.ssh] host "ci@example.com"'],
    [{ port: "abc" }, 'Invalid [runners.ssh] port "abc": expected a number from 1 to 65535'],
  ];
  for (const [bad, message] of cases) {
    assert.throws(() => sshTarget({ ...config, ...bad }, { homeDir: "/home/ci" }), (err) => {
      assert.ok(err instanceof JobFailedError);
      assert.equal(err.reason, "runner_configuration_error");
      assert.ok(err.message.startsWith(message), err.message);
      return true;
    });
  }
  assert.equal(sshTarget({ ...config, host: "::1" }, { homeDir: "/h" }).host, "::1");
  assert.equal(sshTarget({ ...config, host: "" }, { homeDir: "/h" }).host, "localhost");
  assert.equal(sshTarget({ ...config, port: "" }, { homeDir: "/h" }).port, 22);
});
