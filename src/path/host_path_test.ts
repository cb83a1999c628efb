import assert from "node:assert/strict";
import * as nodePath from "node:path";
import { fileURLToPath } from "node:url";
import {
  basename,
  dirname,
  fromFileUrl,
  isAbsolute,
  join,
  joinPosix,
  normalize,
  relative,
  resolve,
  SEP,
} from "./host_path.ts";

const SAMPLES = [
  "",
  ".",
  "..",
  "/",
  "//",
  "a",
  "a/",
  "/a",
  "/a/",
  "a//b",
  "a/./b",
  "a/../b",
  "../a",
  "../../a/..",
  "/..",
  "/../a",
  "a/b/../../..",
  "./a/.",
  "...",
  "a/.../b",
  ".a/..b/",
  "/tmp/runner exec/builds",
];

Deno.test("host_path joins, resolves and tells absolute paths as node:path does", () => {
  for (const a of SAMPLES) {
    assert.equal(isAbsolute(a), nodePath.isAbsolute(a), `isAbsolute(${JSON.stringify(a)})`);
    assert.equal(join(a), nodePath.join(a), `join(${JSON.stringify(a)})`);
    assert.equal(resolve(a), nodePath.resolve(a), `resolve(${JSON.stringify(a)})`);
    for (const b of SAMPLES) {
      const args = JSON.stringify([a, b]);
      assert.equal(join(a, b), nodePath.join(a, b), `join ${args}`);
      assert.equal(resolve(a, b), nodePath.resolve(a, b), `resolve ${args}`);
      assert.equal(join(a, b, "c"), nodePath.join(a, b, "c"), `join ${args}, "c"`);
      assert.equal(resolve("/x", a, b), nodePath.resolve("/x", a, b), `resolve "/x", ${args}`);
    }
  }
  assert.equal(join(), nodePath.join());
  assert.equal(SEP, nodePath.sep);
  assert.equal(resolve(), nodePath.resolve());
});

Deno.test("host_path normalizes paths and finds the relative path between two as node:path does", () => {
  const samples = [
    ...SAMPLES,
    "/a/b",
    "/a/bc",
    "/a/b/c",
    "/ab",
    "a/b",
    "/x/a",
    "/a/b/",
    "//a//b//",
  ];
  for (const a of samples) {
    assert.equal(normalize(a), nodePath.normalize(a), `normalize(${JSON.stringify(a)})`);
    for (const b of samples) {
      const args = JSON.stringify([a, b]);
      assert.equal(relative(a, b), nodePath.relative(a, b), `relative ${args}`);
    }
  }
});

Deno.test("host_path takes dirname and basename, joins POSIX paths and reads file URLs as node:path and node:url do", () => {
  for (const a of [...SAMPLES, "/a/b", "/a/b/", "a/b//", "//a", "///a/b", "a/b/c.txt"]) {
    assert.equal(dirname(a), nodePath.dirname(a), `dirname(${JSON.stringify(a)})`);
    assert.equal(basename(a), nodePath.basename(a), `basename(${JSON.stringify(a)})`);
    for (const b of SAMPLES) {
      assert.equal(
        joinPosix(a, b),
        nodePath.posix.join(a, b),
        `joinPosix ${JSON.stringify([a, b])}`,
      );
    }
  }
  for (const url of ["file:///tmp/a%20b/main.ts", "file:///work/r%C3%A9/x.ts", "file:///"]) {
    assert.equal(fromFileUrl(url), fileURLToPath(url), url);
    assert.equal(fromFileUrl(new URL(url)), fileURLToPath(new URL(url)), url);
  }
  assert.throws(() => fromFileUrl("https://example.com/a"), TypeError);
  assert.throws(() => fromFileUrl("file:///a%2Fb"), TypeError);
});
