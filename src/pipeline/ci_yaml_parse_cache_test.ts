import assert from "node:assert/strict";
import { CiConfigError } from "./ci_config_error.ts";
import type { CiEntry, CiMap } from "./ci_node.ts";
import { type CiYamlParse, parseCiYamlLazily } from "./ci_yaml_parse.ts";
import { CiYamlParseCache, type ParseCacheStore } from "./ci_yaml_parse_cache.ts";
import { parseCiYaml } from "./yaml_loader.ts";

/** YAML with every node kind, anchors, merge keys, aliases, tags and numbers JSON cannot hold. */
const SAMPLES: Record<string, string> = {
  ".gitlab-ci.yml": `stages: [build, test]
variables: { GLOBAL: "1", N: 0x1F, F: 1.50, BIG: 12345678901234567890 }
.base: &base
  tags: [linux, "quoted: yes"]
  retry: 2
  variables: &vars
    EMPTY: ~
    ON: true
    OFF: no
build:
  <<: *base
  stage: build
  script:
    - echo build
    - !reference [.shared, script]
  variables:
    <<: [*vars, { EXTRA: x }]
    LOCAL: |
      line one
        indented
    FOLDED: >-
      folded
      text
test:
  <<: *base
  script: "echo 'test'  # not a comment"
  parallel: { matrix: [{ NODE: ["18", "20"] }] }
  numbers: [.inf, -.inf, .nan, -0.0, -0, 017, 1.0e+3, -1.5]
"quoted key": { "": empty key }
`,
  "ci/inputs.yml": `spec:
  inputs:
    stage: { default: test }
    count: { type: number, default: 2 }
---
"job-$[[ inputs.stage ]]":
  stage: $[[ inputs.stage ]]
  parallel: $[[ inputs.count ]]
  script: ["echo $[[ inputs.stage ]]"]
`,
  "empty.yml": "",
};

function memoryStore(): ParseCacheStore & { text: string | null; writes: number } {
  return {
    text: null,
    writes: 0,
    read() {
      return Promise.resolve(this.text);
    },
    write(text: string) {
      this.text = text;
      this.writes++;
      return Promise.resolve();
    },
  };
}

/** A parser that counts its calls. */
function counting(): CiYamlParse & { calls: number } {
  const parse = (async (text: string, file: string, inputs: CiEntry | null) => {
    parse.calls++;
    return await parseCiYamlLazily(text, file, inputs);
  }) as CiYamlParse & { calls: number };
  parse.calls = 0;
  return parse;
}

const INPUTS: CiEntry = {
  keyLoc: { file: ".gitlab-ci.yml", line: 3 },
  value: {
    kind: "map",
    loc: { file: ".gitlab-ci.yml", line: 3 },
    entries: new Map([["stage", {
      keyLoc: { file: ".gitlab-ci.yml", line: 4 },
      value: { kind: "scalar", loc: { file: ".gitlab-ci.yml", line: 4 }, value: "deploy" },
    }]]),
  },
};

Deno.test("a parse answered from the cache equals the parse itself, for every node kind and number", async () => {
  const store = memoryStore();
  const first = counting();
  const cases: [string, string, CiEntry | null][] = [
    ...Object.entries(SAMPLES).map(([file, text]): [string, string, CiEntry | null] => [
      file,
      text,
      null,
    ]),
    ["ci/inputs.yml", SAMPLES["ci/inputs.yml"]!, INPUTS],
  ];
  const writer = new CiYamlParseCache({ store, build: "1.0 abc", parse: first });
  const fresh: CiMap[] = [];
  for (const [file, text, inputs] of cases) fresh.push(await writer.parse(text, file, inputs));
  await writer.save();
  assert.equal(first.calls, cases.length);
  assert.equal(store.writes, 1);

  const second = counting();
  const reader = new CiYamlParseCache({ store, build: "1.0 abc", parse: second });
  const loaded: CiMap[] = [];
  for (const [i, [file, text, inputs]] of cases.entries()) {
    const cached = await reader.parse(text, file, inputs);
    // deepStrictEqual compares numbers as Object.is does: NaN and -0 count.
    assert.deepStrictEqual(cached, fresh[i], file);
    assert.deepStrictEqual(cached, parseCiYaml(text, file, inputs), file);
    loaded.push(cached);
  }
  assert.equal(second.calls, 0, "every file came from the cache");
  await reader.save();
  assert.equal(store.writes, 1, "nothing new: nothing written");
  const test = loaded[0]!.entries.get("test")!.value;
  const numbers = test.kind === "map" ? test.entries.get("numbers")!.value : null;
  assert.deepStrictEqual(
    numbers?.kind === "seq" ? numbers.items.map((n) => n.kind === "scalar" && n.value) : null,
    [Infinity, -Infinity, NaN, -0, 0, 15, 1000, -1.5],
  );
  // Floats stay marked (GitLab refuses them as variable values); integers do not.
  assert.deepStrictEqual(
    numbers?.kind === "seq" ? numbers.items.map((n) => n.kind === "scalar" && !!n.isFloat) : null,
    [true, true, true, true, false, false, true, true],
  );
});

Deno.test("the cache parses again when the text, the file name, the inputs or the build differ", async () => {
  const store = memoryStore();
  const text = "build:\n  script: [echo a]\n";
  const seed = new CiYamlParseCache({ store, build: "1.0 abc" });
  await seed.parse(text, ".gitlab-ci.yml", null);
  await seed.save();
  const cases: [string, string, CiEntry | null, string][] = [
    ["build:\n  script: [echo b]\n", ".gitlab-ci.yml", null, "1.0 abc"],
    [text, "other.yml", null, "1.0 abc"],
    [text, ".gitlab-ci.yml", INPUTS, "1.0 abc"],
    [text, ".gitlab-ci.yml", null, "1.0 def"],
  ];
  for (const [t, file, inputs, build] of cases) {
    const parse = counting();
    const cache = new CiYamlParseCache({
      store: { ...store, write: () => Promise.resolve() },
      build,
      parse,
    });
    await cache.parse(t, file, inputs).catch(() => {});
    assert.equal(parse.calls, 1, JSON.stringify([t, file, inputs !== null, build]));
  }
  const same = counting();
  await new CiYamlParseCache({ store, build: "1.0 abc", parse: same }).parse(
    text,
    ".gitlab-ci.yml",
    null,
  );
  assert.equal(same.calls, 0);
});

Deno.test("the cache keeps only what the last run used, never caches errors, and survives a damaged store", async () => {
  const store = memoryStore();
  const one = new CiYamlParseCache({ store, build: "b" });
  await one.parse("a: 1\n", "a.yml", null);
  await one.parse("b: 1\n", "b.yml", null);
  await one.save();
  const two = new CiYamlParseCache({ store, build: "b" });
  await two.parse("a: 2\n", "a.yml", null);
  await two.save();
  const kept = JSON.parse(store.text!) as { entries: unknown[] };
  assert.equal(kept.entries.length, 1, "b.yml was not used by the last run");

  // A file that fails to parse fails each time, from the parser.
  const bad = counting();
  const three = new CiYamlParseCache({ store, build: "b", parse: bad });
  for (let i = 0; i < 2; i++) {
    await assert.rejects(() => three.parse("a: [1\n", "a.yml", null), CiConfigError);
  }
  assert.equal(bad.calls, 2);

  for (
    const damaged of ["{not json", '{"format":1,"entries":[["x",{"files":[],"root":1}]]}', "null"]
  ) {
    store.text = damaged;
    const parse = counting();
    const cache = new CiYamlParseCache({ store, build: "b", parse });
    assert.deepStrictEqual(
      await cache.parse("a: 1\n", "a.yml", null),
      parseCiYaml("a: 1\n", "a.yml"),
    );
    assert.equal(parse.calls, 1, damaged);
  }
  // An entry under the right key whose content is damaged is parsed again too.
  const good = memoryStore();
  const seed = new CiYamlParseCache({ store: good, build: "b" });
  await seed.parse("a: 1\n", "a.yml", null);
  await seed.save();
  const doc = JSON.parse(good.text!) as { entries: [string, { root: unknown }][] };
  doc.entries[0]![1].root = ["m", 1, [["a", 1, ["zz", 1, 1]]]];
  good.text = JSON.stringify(doc);
  const parse = counting();
  const cache = new CiYamlParseCache({ store: good, build: "b", parse });
  assert.deepStrictEqual(
    await cache.parse("a: 1\n", "a.yml", null),
    parseCiYaml("a: 1\n", "a.yml"),
  );
  assert.equal(parse.calls, 1);
});
