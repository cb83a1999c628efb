import assert from "node:assert/strict";
import type { ByteSink } from "./byte_sink.ts";
import { tokenMaskPrefixes } from "./token_prefixes.ts";
import { TraceMasker, type TraceMaskerOptions } from "./trace_masker.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

class Collector implements ByteSink {
  readonly parts: Uint8Array[] = [];
  write(chunk: Uint8Array): void {
    this.parts.push(chunk.slice());
  }
  get text(): string {
    return dec.decode(concat(this.parts));
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const defaults: TraceMaskerOptions = {
  phrases: [],
  tokenPrefixes: tokenMaskPrefixes([], { isMaskAllDefaultTokens: true }),
};

/** Masks `pieces` written one by one; returns the output text. */
function mask(pieces: (string | Uint8Array)[], options: Partial<TraceMaskerOptions> = {}): string {
  const out = new Collector();
  const masker = new TraceMasker(out, { ...defaults, ...options });
  for (const p of pieces) masker.write(typeof p === "string" ? enc.encode(p) : p);
  masker.close();
  return out.text;
}

/** Every way to cut `text` into two writes, plus three writes and byte by byte. */
function splits(text: string): Uint8Array[][] {
  const bytes = enc.encode(text);
  const out: Uint8Array[][] = [[bytes]];
  for (let i = 1; i < bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)]);
  for (let i = 1; i + 2 < bytes.length; i += 3) {
    out.push([bytes.subarray(0, i), bytes.subarray(i, i + 2), bytes.subarray(i + 2)]);
  }
  out.push([...bytes].map((b) => new Uint8Array([b])));
  return out;
}

const SECRET = "s3cr3t-Value-42";

Deno.test("TraceMasker replaces a masked value with [MASKED]", () => {
  assert.equal(mask([`echo ${SECRET} done`], { phrases: [SECRET] }), "echo [MASKED] done");
});

Deno.test("TraceMasker masks a value split across two, three or one-byte writes", () => {
  const text = `token=${SECRET}; again:${SECRET}${SECRET}.`;
  for (const pieces of splits(text)) {
    const out = mask(pieces, { phrases: [SECRET] });
    assert.equal(out, "token=[MASKED]; again:[MASKED][MASKED].");
    assert.ok(!out.includes(SECRET));
  }
});

Deno.test("TraceMasker passes text through before close when nothing may begin a secret", () => {
  const out = new Collector();
  const masker = new TraceMasker(out, { ...defaults, phrases: [SECRET] });
  masker.write(enc.encode("hello world\n"));
  assert.equal(out.text, "hello world\n");
  masker.write(enc.encode("next s3c"));
  assert.equal(
    out.text,
    "hello world\nnext ",
    "only the possible start of the secret is held back",
  );
  assert.equal(masker.pendingBytes, 3);
  masker.write(enc.encode("ond"));
  assert.equal(out.text, "hello world\nnext s3cond");
  masker.write(enc.encode("s3c"));
  masker.close();
  assert.equal(out.text, "hello world\nnext s3conds3c", "close flushes the held-back tail");
});

Deno.test("TraceMasker hides every byte of overlapping masked values", () => {
  const a = "abcd1234";
  const b = "1234wxyz";
  for (const pieces of splits(`x ${a}wxyz y`)) {
    assert.equal(mask(pieces, { phrases: [a, b] }), "x [MASKED] y");
  }
  assert.equal(mask(["password1 pass"], { phrases: ["pass", "password1"] }), "[MASKED] [MASKED]");
  assert.equal(mask(["aaaab"], { phrases: ["aaab"] }), "a[MASKED]");
});

Deno.test("TraceMasker masks values of any length and trims them, like the official runner", () => {
  assert.equal(mask(["a1a"], { phrases: ["1"] }), "a[MASKED]a");
  assert.equal(mask(["key=abc\n"], { phrases: ["  abc\t", "", "   "] }), "key=[MASKED]\n");
});

Deno.test("TraceMasker keeps a token prefix and masks the token after it", () => {
  for (const pieces of splits("auth glpat-AbC_12.x=9-z\tend")) {
    assert.equal(mask(pieces), "auth glpat-[MASKED]\tend");
  }
  assert.equal(
    mask(["glrt-t1_abc glcbt-xyz _gitlab_session=f00"]),
    "glrt-[MASKED] glcbt-[MASKED] _gitlab_session=[MASKED]",
  );
  assert.equal(mask(["glpat- alone, glpat-"]), "glpat- alone, glpat-", "no token after the prefix");
  assert.equal(mask(["ends with glpat-abc"]), "ends with glpat-[MASKED]");
});

Deno.test("TraceMasker masks only glpat- unless all default token prefixes are on", () => {
  const tokenPrefixes = tokenMaskPrefixes([], { isMaskAllDefaultTokens: false });
  assert.equal(mask(["glpat-a glrt-b"], { tokenPrefixes }), "glpat-[MASKED] glrt-b");
});

Deno.test("TraceMasker masks tokens after a job's own token_mask_prefixes", () => {
  const tokenPrefixes = tokenMaskPrefixes(["myco_", " "], { isMaskAllDefaultTokens: false });
  for (const pieces of splits("k=myco_123abc;")) {
    assert.equal(mask(pieces, { tokenPrefixes }), "k=myco_[MASKED];");
  }
});

Deno.test("TraceMasker lets a masked value win over a token prefix it overlaps", () => {
  // Upstream masks values first, so the prefix is no longer seen.
  assert.equal(mask(["glpat-ab cd"], { phrases: ["at-ab cd"] }), "glp[MASKED]");
});

Deno.test("TraceMasker masks a value inside a token so it cannot outlive the token", () => {
  assert.equal(mask(["glpat-abcSEC RET!"], { phrases: ["SEC RET"] }), "glpat-[MASKED][MASKED]!");
});

Deno.test("TraceMasker masks sensitive URL query parameters like the official runner", () => {
  const url = "GET https://gl.example/api?private_token=abc123&page=2 and " +
    "s3?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA/2024/x HTTP/1.1";
  for (const pieces of splits(url)) {
    assert.equal(
      mask(pieces),
      "GET https://gl.example/api?private_token=[MASKED]&page=2 and " +
        "s3?X-Amz-Signature=[MASKED]&X-Amz-Credential=[MASKED] HTTP/1.1",
    );
  }
  assert.equal(mask(["?token=abc&rss_token=x"]), "?token=abc&rss_token=[MASKED]");
  assert.equal(mask(["?private_token=abc"], { isUrlParamMasked: false }), "?private_token=abc");
});

Deno.test("TraceMasker masks the password of URL credentials", () => {
  for (const pieces of splits("clone https://deploy:hunter2@gitlab.example/g/p.git ok")) {
    assert.equal(mask(pieces), "clone https://deploy:[MASKED]@gitlab.example/g/p.git ok");
  }
  assert.equal(
    mask(["https://gl.example:8443/x ssh://git@host:22/x https://u@h"]),
    "https://gl.example:8443/x ssh://git@host:22/x https://u@h",
  );
  assert.equal(mask(["db=postgres://:tok@db"]), "db=postgres://:[MASKED]@db");
  assert.equal(
    mask(["https://u:p@h"], { isUrlPasswordMasked: false }),
    "https://u:p@h",
  );
});

Deno.test("TraceMasker hides the whole userinfo when the user name is a masked value", () => {
  assert.equal(mask(["https://bot-SECRET:pw@h"], { phrases: ["SECRET"] }), "https://[MASKED]@h");
});

Deno.test("TraceMasker passes bytes that are not UTF-8 through unchanged", () => {
  const bytes = new Uint8Array([0xff, 0x41, 0xc3, 0x28]);
  const out = new Collector();
  const masker = new TraceMasker(out, defaults);
  masker.write(bytes);
  masker.close();
  assert.deepEqual(concat(out.parts), bytes);
});

Deno.test("TraceMasker output does not depend on how the input is split", () => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return Math.floor((seed / 0x80000000) * n);
  };
  const secrets = ["Xy7Qp-secret", "pass", "p4ssw0rd!", "Xy7"];
  const words = [
    ...secrets,
    "glpat-",
    "glpat-tok",
    "?private_token=",
    "https://",
    "u:",
    "@",
    " ",
    "\n",
    "x",
    "gl",
    "?",
    "&",
    "Xy",
    "pa",
    "://a:b@c",
    "€",
  ];
  for (let round = 0; round < 200; round++) {
    const text = Array.from({ length: 30 }, () => words[rand(words.length)]).join("");
    const whole = mask([text], { phrases: secrets });
    const bytes = enc.encode(text);
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < bytes.length;) {
      const n = 1 + rand(6);
      pieces.push(bytes.subarray(at, at + n));
      at += n;
    }
    assert.equal(mask(pieces, { phrases: secrets }), whole, `input ${JSON.stringify(text)}`);
    for (const s of secrets) {
      assert.ok(!whole.includes(s), `${s} leaked in ${JSON.stringify(whole)}`);
    }
  }
});

Deno.test("TraceMasker finds every secret at odd and even offsets when it looks at every other position", () => {
  let seed = 11;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return Math.floor((seed / 0x80000000) * n);
  };
  // All patterns are 3 bytes or longer: the search looks at every other position.
  const secrets = ["Xy7Qp-secret", "abc", "p4ssw0rd!", "zzz"];
  const words = [
    ...secrets,
    "glpat-tok",
    "gldt-",
    "?private_token=v",
    "?PRIVATE_TOKEN=v",
    "&X-Amz-Signature=s",
    "&x-AMZ-credential=c",
    "https://u:pw@h",
    "://",
    "a",
    "ab",
    "bc",
    "zz",
    " ",
    "\n",
    "€",
    "Xy7Qp-secre",
  ];
  // Anchors are chosen from what the masker has seen, once it has seen 16 KiB.
  const plain = ["a", "ab", "bc", "zz", " ", "\n", "€", "://x", "gl", "?p"];
  const seen = enc.encode(Array.from({ length: 12000 }, () => plain[rand(plain.length)]).join(""));
  for (let round = 0; round < 300; round++) {
    const text = Array.from({ length: 25 }, () => words[rand(words.length)]).join("");
    const bytes = enc.encode(text);
    const pieces: Uint8Array[] = [seen.subarray(0, 8000 + rand(12000)), seen.subarray(20000)];
    for (let at = 0; at < bytes.length;) {
      const n = 1 + rand(40);
      pieces.push(bytes.subarray(at, at + n));
      at += n;
    }
    const everyOther = mask(pieces, { phrases: secrets });
    // A two-byte value that never occurs makes it look at every position.
    const everyOne = mask(pieces, { phrases: [...secrets, "\u0001\u0002"] });
    assert.equal(everyOther, everyOne, `input ${JSON.stringify(text)}`);
    for (const s of [...secrets, "-tok", "=v", "=s", "=c", ":pw"]) {
      assert.ok(!everyOther.includes(s), `${s} leaked in ${JSON.stringify(everyOther)}`);
    }
  }
});

/**
 * The one-by-one reference for masked values alone: every occurrence of
 * every value, overlapping ones joined into one `[MASKED]`.
 */
function naiveMask(text: Uint8Array, phrases: Uint8Array[]): Uint8Array {
  const regions: [number, number][] = [];
  for (const p of phrases) {
    for (let i = 0; i + p.length <= text.length; i++) {
      if (p.every((b, k) => text[i + k] === b)) regions.push([i, i + p.length]);
    }
  }
  regions.sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  let at = 0;
  for (let r = 0; r < regions.length;) {
    const start = regions[r]![0];
    let end = regions[r]![1];
    for (r++; r < regions.length && regions[r]![0] < end; r++) end = Math.max(end, regions[r]![1]);
    out.push(...text.subarray(at, start), ...enc.encode("[MASKED]"));
    at = end;
  }
  out.push(...text.subarray(at));
  return new Uint8Array(out);
}

Deno.test("TraceMasker finds what the one-by-one search finds, in random logs cut anywhere", () => {
  let seed = 3;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return Math.floor((seed / 0x80000000) * n);
  };
  const alphabet = enc.encode("abcab-_:/ \n3X");
  for (let round = 0; round < 100; round++) {
    // Short values over a small alphabet: they overlap and recur often.
    const phrases = Array.from(
      { length: 1 + rand(10) },
      () => Uint8Array.from({ length: 3 + rand(rand(4) === 0 ? 20 : 5) }, () => alphabet[rand(8)]!),
    );
    // Past 16 KiB the masker picks its anchors again from what it has seen.
    const length = rand(5) === 0 ? 20_000 + rand(50_000) : 1 + rand(3000);
    const text = new Uint8Array(length);
    for (let at = 0; at < length;) {
      const piece = rand(6) === 0
        ? phrases[rand(phrases.length)]!
        : Uint8Array.from({ length: 1 + rand(8) }, () => alphabet[rand(alphabet.length)]!);
      text.set(piece.subarray(0, length - at), at);
      at += piece.length;
    }
    const out = new Collector();
    const masker = new TraceMasker(out, {
      phrases: phrases.map((p) => dec.decode(p)),
      tokenPrefixes: [],
      isUrlParamMasked: false,
      isUrlPasswordMasked: false,
    });
    for (let at = 0; at < length;) {
      const n = 1 + rand(rand(2) === 0 ? 30 : 9000);
      masker.write(text.subarray(at, at + n));
      at += n;
    }
    masker.close();
    const expected = naiveMask(text, phrases.filter((p) => dec.decode(p).trim() === dec.decode(p)));
    assert.deepEqual(
      concat(out.parts),
      expected,
      `values ${JSON.stringify(phrases.map((p) => dec.decode(p)))} in round ${round}`,
    );
  }
});

Deno.test("TraceMasker refuses writes after close", () => {
  const masker = new TraceMasker(new Collector(), defaults);
  masker.close();
  masker.close();
  assert.throws(() => masker.write(enc.encode("x")), TypeError);
});

Deno.test("a write with several secrets reaches the next sink in one piece, and the buffer is reused safely", () => {
  const out = new Collector();
  const masker = new TraceMasker(out, {
    ...defaults,
    phrases: ["hunter2", "s3cr3t"],
    tokenPrefixes: tokenMaskPrefixes([], { isMaskAllDefaultTokens: false }),
  });
  masker.write(enc.encode("a hunter2 b glpat-abc123 c s3cr3t d ?private_token=xyz&e=1\n"));
  assert.equal(out.parts.length, 1);
  masker.write(enc.encode("no secret here\n"));
  masker.write(enc.encode("then s3cr3t again\n"));
  masker.close();
  assert.equal(out.parts.length, 3);
  assert.equal(
    out.text,
    "a [MASKED] b glpat-[MASKED] c [MASKED] d ?private_token=[MASKED]&e=1\n" +
      "no secret here\nthen [MASKED] again\n",
  );
});

Deno.test("TraceMasker flush writes what was held back and ends a token in progress; writes go on", () => {
  const out = new Collector();
  const masker = new TraceMasker(out, { ...defaults, phrases: [SECRET] });
  masker.write(enc.encode("a s3c"));
  masker.flush();
  assert.equal(out.text, "a s3c", "a partial match is no match");
  masker.write(enc.encode("tok=glpat-abc"));
  masker.flush();
  masker.write(enc.encode("Running ?private_token=x"));
  masker.flush();
  masker.write(enc.encode("next " + SECRET));
  masker.close();
  assert.equal(
    out.text,
    "a s3ctok=glpat-[MASKED]Running ?private_token=[MASKED]next [MASKED]",
  );
});
