import assert from "node:assert/strict";
import { StageEndScanner } from "./main_shell.ts";

const NONCE = "runner-stage-end-0123456789abcdef";
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function feed(chunks: string[]): { output: string; exitCode: number | null } {
  const scanner = new StageEndScanner(NONCE);
  let output = "";
  for (const chunk of chunks) output += dec(scanner.push(enc(chunk)));
  return { output, exitCode: scanner.exitCode };
}

Deno.test("StageEndScanner passes stage output and reads the exit code of the end line", () => {
  assert.deepEqual(feed([`hello\n${NONCE}:0\n`]), { output: "hello\n", exitCode: 0 });
  assert.deepEqual(feed([`no newline${NONCE}:42\n`]), { output: "no newline", exitCode: 42 });
});

Deno.test("StageEndScanner finds an end line cut anywhere across chunks", () => {
  const whole = `some output\n${NONCE}:7\n`;
  for (let cut = 0; cut <= whole.length; cut++) {
    for (let cut2 = cut; cut2 <= whole.length; cut2 += 5) {
      const chunks = [whole.slice(0, cut), whole.slice(cut, cut2), whole.slice(cut2)];
      assert.deepEqual(
        feed(chunks),
        { output: "some output\n", exitCode: 7 },
        `cut ${cut} ${cut2}`,
      );
    }
  }
});

Deno.test("StageEndScanner gives back held bytes that were not the end line", () => {
  const scanner = new StageEndScanner(NONCE);
  // A prefix of the nonce is held back until the next chunk shows it is output.
  assert.equal(dec(scanner.push(enc("abc runner-stage"))), "abc ");
  assert.equal(dec(scanner.push(enc("-something else\n"))), "runner-stage-something else\n");
  assert.equal(dec(scanner.push(enc("tail runner"))), "tail ");
  assert.equal(scanner.exitCode, null);
  // The stream ended without an end line: what was held is output.
  assert.equal(dec(scanner.flush()), "runner");
});

Deno.test("StageEndScanner waits for the whole end line and ignores what follows it", () => {
  const scanner = new StageEndScanner(NONCE);
  assert.equal(dec(scanner.push(enc(`out${NONCE}:1`))), "out");
  assert.equal(scanner.exitCode, null);
  assert.equal(dec(scanner.push(enc("27\nlater"))), "");
  assert.equal(scanner.exitCode, 127);
  assert.equal(dec(scanner.push(enc("more"))), "");
});
