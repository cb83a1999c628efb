import assert from "node:assert/strict";
import { homeOfUser } from "./deno_service_io.ts";

Deno.test("homeOfUser reads the home directory from the account database, not /home/<name>", {
  ignore: Deno.build.os !== "linux",
}, () => {
  // Accounts whose home is not under /home, as most service accounts.
  const entries = Deno.readTextFileSync("/etc/passwd").split("\n").filter((l) => l.includes(":"))
    .map((l) => l.split(":"));
  const root = entries.find((e) => e[0] === "root");
  if (root) assert.equal(homeOfUser("root"), root[5]);
  const service = entries.find((e) =>
    e[5] !== "" && !e[5]!.startsWith("/home/") && e[0] !== "root"
  );
  if (service) assert.equal(homeOfUser(service[0]!), service[5]);
  assert.equal(homeOfUser("no-such-user-4f1c"), undefined);
  assert.equal(homeOfUser("--help"), undefined, "not taken for an option by getent");
});
