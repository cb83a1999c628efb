import assert from "node:assert/strict";
import { ArchiveError } from "./archive_error.ts";
import { normalizeEntryName } from "./entry_name.ts";

Deno.test("normalizeEntryName keeps safe names and drops . and empty segments", () => {
  const table: [string, string][] = [
    ["a.txt", "a.txt"],
    ["dir/", "dir"],
    ["./a//b/./c", "a/b/c"],
    ["win\\style\\path.txt", "win/style/path.txt"],
    ["...", "..."],
    ["a/..b/c..", "a/..b/c.."],
  ];
  for (const [raw, want] of table) assert.equal(normalizeEntryName(raw), want, raw);
});

Deno.test("normalizeEntryName rejects names that could leave the target, naming the entry", () => {
  const table: [string, RegExp][] = [
    ["../evil", /"\.\.\/evil" has a "\.\." segment/],
    ["a/../../evil", /has a "\.\." segment/],
    ["..\\evil", /has a "\.\." segment/],
    ["/etc/passwd", /"\/etc\/passwd" has an absolute path/],
    ["\\\\server\\share", /has an absolute path/],
    ["C:\\Windows\\x", /has a drive letter/],
    ["c:x", /has a drive letter/],
    ["./", /has an empty path/],
    ["a\0b", /NUL byte/],
  ];
  for (const [raw, message] of table) {
    assert.throws(() => normalizeEntryName(raw), (err: unknown) => {
      assert.ok(err instanceof ArchiveError);
      assert.equal(err.entry, raw);
      assert.match(err.message, message);
      return true;
    });
  }
});
