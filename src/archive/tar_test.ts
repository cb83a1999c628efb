import assert from "node:assert/strict";
import { readTar, tarEnd, type TarHeader, tarHeader, tarPadding } from "./tar.ts";

function header(name: string, kind: TarHeader["kind"], extra: Partial<TarHeader> = {}): TarHeader {
  return {
    name,
    kind,
    mode: kind === "dir" ? 0o755 : 0o644,
    uid: 1000,
    gid: 1000,
    size: 0,
    mtime: new Date("2024-05-01T10:00:00Z"),
    linkTarget: "",
    ...extra,
  };
}

function tarOf(entries: { h: TarHeader; data?: Uint8Array }[]): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (const { h, data } of entries) {
    parts.push(tarHeader(h));
    if (data) parts.push(data, tarPadding(data.length));
  }
  parts.push(tarEnd());
  // Odd chunk sizes: the reader must not assume block-aligned chunks.
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const chunks: Uint8Array[] = [];
  for (let o = 0; o < all.length; o += 333) chunks.push(all.subarray(o, o + 333));
  return ReadableStream.from(chunks);
}

async function readAll(stream: ReadableStream<Uint8Array>) {
  const out: { h: TarHeader; text: string }[] = [];
  await readTar(stream, async (h, data) => {
    let text = "";
    if (h.kind === "file") await data((c) => void (text += new TextDecoder().decode(c)));
    out.push({ h, text });
  });
  return out;
}

Deno.test("tar entries written here read back with names, kinds, modes, owners, times and content", async () => {
  const content = new TextEncoder().encode("x".repeat(1500));
  const entries = await readAll(tarOf([
    { h: header("widget", "dir") },
    { h: header("widget/run.sh", "file", { mode: 0o755, size: content.length }), data: content },
    { h: header("widget/link", "symlink", { linkTarget: "run.sh" }) },
  ]));
  assert.deepEqual(entries.map((e) => [e.h.name, e.h.kind, e.h.mode, e.h.uid]), [
    ["widget", "dir", 0o755, 1000],
    ["widget/run.sh", "file", 0o755, 1000],
    ["widget/link", "symlink", 0o644, 1000],
  ]);
  assert.equal(entries[1]?.text, "x".repeat(1500));
  assert.equal(entries[2]?.h.linkTarget, "run.sh");
  assert.equal(entries[1]?.h.mtime.toISOString(), "2024-05-01T10:00:00.000Z");
});

Deno.test("tar names and link targets over 100 bytes or not ASCII survive through PAX headers", async () => {
  const long = `deep/${"d".repeat(120)}/${"f".repeat(90)}.txt`;
  const target = `../${"t".repeat(150)}`;
  const entries = await readAll(tarOf([
    { h: header(long, "file", { size: 2 }), data: new TextEncoder().encode("hi") },
    { h: header("ünïcödé/ファイル", "symlink", { linkTarget: target }) },
  ]));
  assert.equal(entries[0]?.h.name, long);
  assert.equal(entries[0]?.text, "hi");
  assert.equal(entries[1]?.h.name, "ünïcödé/ファイル");
  assert.equal(entries[1]?.h.linkTarget, target);
});

Deno.test("a tar stream cut in the middle of a block is an error, not an empty archive", async () => {
  const stream = tarOf([{
    h: header("a", "file", { size: 4 }),
    data: new TextEncoder().encode("abcd"),
  }]);
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer()).subarray(0, 700);
  await assert.rejects(readAll(ReadableStream.from([bytes])), /ended/);
});
