import assert from "node:assert/strict";
import { main, type MainIo } from "./main.ts";

/** An io whose stdin counts how often it is asked for. */
function countingIo(): { io: MainIo; output: () => string; stdinGets: () => number } {
  let gets = 0;
  let text = "";
  const sink = {
    writeSync(p: Uint8Array) {
      text += new TextDecoder().decode(p);
      return p.length;
    },
  };
  const io: MainIo = {
    stdout: sink,
    stderr: sink,
    get stdin() {
      gets++;
      return Object.assign(new ReadableStream<Uint8Array>(), { isTerminal: () => false });
    },
    env: {},
    cwd: Deno.cwd(),
  };
  return { io, output: () => text, stdinGets: () => gets };
}

Deno.test("a command that asks nothing leaves stdin alone (Deno sets up its stream on first use)", async () => {
  for (const args of [["--version"], ["exec", "--help"], ["no-such-command"]]) {
    const { io, output, stdinGets } = countingIo();
    await main(args, io);
    assert.notEqual(output(), "", args.join(" "));
    assert.equal(stdinGets(), 0, args.join(" "));
  }
});

Deno.test("an argument a command does not take is refused, naming it: a boolean's value without = would leave the flag true", async () => {
  const cases: [string[], RegExp][] = [
    [
      ["register", "--locked", "false"],
      /Unexpected argument "false" after --locked: a boolean flag takes its value after "=" \(--locked=false\)/,
    ],
    [["verify", "--delete", "no"], /Unexpected argument "no" after --delete/],
    [["list", "extra"], /Unexpected argument "extra": this command takes flags only/],
    [["unregister", "--", "x"], /Unexpected argument "x"/],
    [["cache", "clear", "now"], /Unexpected argument "now"/],
  ];
  for (const [args, message] of cases) {
    const { io, output } = countingIo();
    assert.equal(await main(args, io), 2, args.join(" "));
    assert.match(output(), message);
  }
});

Deno.test("a global option given after the command is named as one; --log-level trace and --cpuprofile say what happens instead", async () => {
  const late = countingIo();
  assert.equal(await main(["list", "--debug"], late.io), 2);
  assert.match(
    late.output(),
    /ERROR: Unknown flag: --debug: a global option, given before the command \(runner --debug list …\)/,
  );
  const trace = countingIo();
  assert.equal(await main(["--log-level", "trace", "--version"], trace.io), 0);
  assert.match(trace.output(), /--log-level trace is not a level of this runner: logging at debug/);
  const fromEnv = countingIo();
  fromEnv.io.env = { CPU_PROFILE: "/tmp/runner.prof" };
  assert.equal(await main(["--version"], fromEnv.io), 0);
  assert.match(
    fromEnv.output(),
    /CPU_PROFILE is not supported: no CPU profile is written to "\/tmp\/runner.prof"/,
  );
});

Deno.test("help lists the commands and help COMMAND shows its flags, as the official runner's help command does", async () => {
  const all = countingIo();
  assert.equal(await main(["help"], all.io), 0);
  assert.match(all.output(), /^ +register +Register a new runner$/m);
  const one = countingIo();
  assert.equal(await main(["help", "unregister"], one.io), 0);
  assert.match(one.output(), /Usage: runner unregister \[options\]/);
  assert.match(one.output(), /--all-runners/);
  const unknown = countingIo();
  assert.equal(await main(["help", "nope"], unknown.io), 1);
  assert.match(unknown.output(), /No help topic for 'nope'/);
});

Deno.test("a bad global option from the environment is named by its variable", async () => {
  const io = countingIo();
  io.io.env = { LOG_LEVEL: "loud" };
  assert.equal(await main(["--version"], io.io), 2);
  assert.match(io.output(), /ERROR: LOG_LEVEL \(--log-level\): Unknown log level "loud"/);
  const flag = countingIo();
  assert.equal(await main(["--log-format", "xml", "--version"], flag.io), 2);
  assert.match(flag.output(), /ERROR: Flag --log-format: Unknown log format "xml"/);
  const bool = countingIo();
  bool.io.env = { REGISTER_NON_INTERACTIVE: "maybe" };
  assert.equal(await main(["register"], bool.io), 2);
  assert.match(bool.output(), /REGISTER_NON_INTERACTIVE \(--non-interactive\) takes true or false/);
});

Deno.test("register refuses a negative --maximum-timeout rather than leave it out", async () => {
  const { io, output } = countingIo();
  assert.equal(await main(["register", "-n", "--maximum-timeout", "-5"], io), 2);
  assert.match(output(), /ERROR: Flag --maximum-timeout takes a number of seconds, got -5/);
});

Deno.test("with --log-format json, the error that ends a command is a JSON record too", async () => {
  const { io, output } = countingIo();
  assert.equal(await main(["--log-format", "json", "register", "--bogus"], io), 2);
  const lines = output().trim().split("\n");
  assert.equal(lines.length, 1, output());
  const record = JSON.parse(lines[0]!);
  assert.equal(record.level, "error");
  assert.equal(record.msg, "Unknown flag: --bogus");
});

Deno.test("a command named like a property of every object (toString, constructor) is an unknown command, not a crash", async () => {
  for (const args of [["toString"], ["constructor"], ["help", "hasOwnProperty"]]) {
    const { io, output } = countingIo();
    assert.equal(await main(args, io), 1, args.join(" "));
    assert.match(output(), new RegExp(`No help topic for '${args.at(-1)}'`));
    assert.doesNotMatch(output(), /FATAL/);
  }
});

Deno.test("a command's flag given before the command is named as the command's", async () => {
  const cases: [string[], RegExp][] = [
    [
      ["-c", "x.toml", "list"],
      /Unknown flag: -c: a flag of list, given after it \(runner list --config …\)/,
    ],
    [
      ["--config=x.toml", "register"],
      /Unknown flag: --config=x.toml: a flag of register, given after it/,
    ],
    [["--bogus", "list"], /^ERROR: Unknown flag: --bogus$/m],
  ];
  for (const [args, message] of cases) {
    const { io, output } = countingIo();
    assert.equal(await main(args, io), 2, args.join(" "));
    assert.match(output(), message);
  }
});

Deno.test("an official register flag of an executor Runner lacks is refused saying whose it is", async () => {
  const { io, output } = countingIo();
  assert.equal(await main(["register", "--kubernetes-image", "alpine"], io), 2);
  assert.match(
    output(),
    /Unknown flag: --kubernetes-image: an official flag of the kubernetes executor \(\[runners\.kubernetes\]\), which Runner does not have/,
  );
});
