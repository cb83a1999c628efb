import assert from "node:assert/strict";
import { join } from "node:path";
import {
  isValidSystemId,
  loadOrCreateSystemId,
  randomSystemId,
  SYSTEM_ID_FILE,
  systemIdFromMachineId,
} from "./system_id.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "runner-sysid-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the system ID derives from the machine ID, is stored 0600 without newline, and stays stable", async () => {
  await withDir(async (dir) => {
    const machineIdFile = join(dir, "machine-id");
    await Deno.writeTextFile(machineIdFile, "0123456789abcdef0123456789abcdef\n");
    const configPath = join(dir, "conf", "config.toml");
    const first = await loadOrCreateSystemId(configPath, { machineIdFiles: [machineIdFile] });
    assert.equal(first.saveError, null);
    assert.match(first.systemId, /^s_[0-9a-f]{12}$/);
    assert.equal(first.systemId, await systemIdFromMachineId("0123456789abcdef0123456789abcdef"));
    const stored = join(dir, "conf", SYSTEM_ID_FILE);
    assert.equal(await Deno.readTextFile(stored), first.systemId);
    if (Deno.build.os !== "windows") assert.equal((await Deno.stat(stored)).mode! & 0o777, 0o600);
    // A different machine ID later does not change a stored, valid ID.
    await Deno.writeTextFile(machineIdFile, "ffffffffffffffffffffffffffffffff");
    const again = await loadOrCreateSystemId(configPath, { machineIdFiles: [machineIdFile] });
    assert.equal(again.systemId, first.systemId);
  });
});

Deno.test("without a machine ID the system ID is r_ + 12 random alphanumerics", async () => {
  await withDir(async (dir) => {
    const result = await loadOrCreateSystemId(join(dir, "config.toml"), {
      machineIdFiles: [join(dir, "absent")],
    });
    assert.match(result.systemId, /^r_[0-9a-zA-Z]{12}$/);
    const again = await loadOrCreateSystemId(join(dir, "config.toml"), { machineIdFiles: [] });
    assert.equal(again.systemId, result.systemId);
  });
});

Deno.test("a malformed .runner_system_id is regenerated", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(join(dir, SYSTEM_ID_FILE), "s_not-valid!");
    const result = await loadOrCreateSystemId(join(dir, "config.toml"), { machineIdFiles: [] });
    assert.ok(isValidSystemId(result.systemId));
    assert.equal(await Deno.readTextFile(join(dir, SYSTEM_ID_FILE)), result.systemId);
  });
});

Deno.test("random system IDs use the injected randomness", () => {
  const bytes = (n: number) => new Uint8Array(n).fill(250).map((v, i) => (i % 2 === 0 ? v : i));
  assert.equal(randomSystemId(bytes), "r_13579bdf1357", "bytes of 248 and more are skipped");
  assert.ok(isValidSystemId("s_0123456789ab"));
  assert.ok(!isValidSystemId("s_0123456789ab\n"));
  assert.ok(!isValidSystemId("x_0123456789ab"));
});
