import assert from "node:assert/strict";
import type { ToExecutor } from "../executors/process_protocol.ts";
import { MAX_TERMINAL_INPUT_IN_FLIGHT, ProcessTerminal } from "./job_terminal.ts";

Deno.test("keystrokes the executor process has not taken are held up to a bound, the rest dropped", async () => {
  const sent: ToExecutor[] = [];
  // The executor process takes nothing more: each input write stays pending.
  const terminal = new ProcessTerminal((message) => {
    sent.push(message);
    return message.type === "terminal-input" ? new Promise(() => {}) : Promise.resolve();
  });
  const opening = terminal.open({ onOutput: () => {}, onClosed: () => {} });
  terminal.handle({ type: "terminal-started", id: 1 });
  const stream = await opening;
  const chunk = new Uint8Array(128 * 1024).fill(0x61);
  for (let i = 0; i < 256; i++) stream.write(chunk); // 32 MiB pasted
  const held = sent.filter((m) => m.type === "terminal-input")
    .reduce((sum, m) => sum + (m as { data: string }).data.length, 0);
  assert.ok(held <= MAX_TERMINAL_INPUT_IN_FLIGHT, `${held} bytes held`);
  assert.ok(held > MAX_TERMINAL_INPUT_IN_FLIGHT / 2, "input below the bound is passed on");
});
