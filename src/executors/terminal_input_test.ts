import assert from "node:assert/strict";
import { MAX_TERMINAL_INPUT_QUEUED, TerminalInput } from "./terminal_input.ts";

Deno.test("keystrokes a shell does not take wait up to a bound, the rest is dropped, taking frees room", async () => {
  const pending: { data: Uint8Array; take: () => void }[] = [];
  const input = new TerminalInput((data) =>
    new Promise<void>((take) => pending.push({ data, take }))
  );
  const chunk = new Uint8Array(256 * 1024).fill(0x61);
  for (let i = 0; i < 64; i++) input.write(chunk); // 16 MiB pasted
  const held = pending.reduce((sum, p) => sum + p.data.length, 0);
  assert.equal(held, MAX_TERMINAL_INPUT_QUEUED);
  assert.equal(input.queued, MAX_TERMINAL_INPUT_QUEUED);

  pending.splice(0).forEach((p) => p.take());
  await Promise.resolve();
  assert.equal(input.queued, 0);
  input.write(chunk);
  assert.equal(pending.length, 1, "taken input makes room again");
});

Deno.test("a write that fails frees its room too", async () => {
  const input = new TerminalInput(() => Promise.reject(new Error("shell gone")));
  input.write(new Uint8Array(10));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(input.queued, 0);
});
