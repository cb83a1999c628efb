/**
 * Trace pipeline throughput: pushes realistic job output with 10 masked
 * secrets through JobTrace (mask → UTF-8 fix → limit → CRC + store spilled to
 * a temp file) and, in the same run, the same bytes as a plain copy into the
 * same kind of store (the baseline). Prints MB/s for both, their ratio and
 * RSS growth; then the same with FF_TIMESTAMPS (on by default: every line
 * stamped, each stream masked on its own), and its ratio to the unstamped run.
 *
 *   deno run --allow-read --allow-write scripts/bench/trace_throughput.ts [--bytes 1g] [--chunk 64k] [--quick]
 *
 * `--quick` pushes 64 MB. Goal: JobTrace at least 400 MB/s, RSS growth at most 50 MB.
 */
import { parseArgs } from "node:util";
import { JobTrace } from "../../src/trace/job_trace.ts";
import { openTempSpillFile } from "../../src/trace/temp_spill_file.ts";
import { tokenMaskPrefixes } from "../../src/trace/token_prefixes.ts";
import { TraceStore } from "../../src/trace/trace_store.ts";

function parseSize(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)([kmg]?)i?b?$/i.exec(text.trim());
  if (!m) throw new TypeError(`Flag --${flag} must be a size such as 256m or 1g: got "${text}"`);
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase()]!;
  return Math.round(Number(m[1]) * unit);
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    bytes: { type: "string", default: "256m" },
    chunk: { type: "string", default: "64k" },
    quick: { type: "boolean", default: false },
  },
});
const totalBytes = values.quick ? 64 * 1024 * 1024 : parseSize(values.bytes, "bytes");
const chunkBytes = parseSize(values.chunk, "chunk");

const secrets = Array.from({ length: 10 }, (_, i) => `s3cr3t-${i}-${"Xy7Qp".repeat(2 + i)}`);

/** Build-log-like lines; a few carry secrets, tokens and URLs to mask. */
function sampleLog(): Uint8Array {
  const lines: string[] = [];
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  // A running length: joining on every iteration made this quadratic (it never finished).
  let length = 0;
  for (let i = 0; length < 4 * 1024 * 1024; i++) {
    length += (lines[lines.length - 1]?.length ?? 0) + 1;
    switch (rand(12)) {
      case 0:
        lines.push(`$ npm ci --prefer-offline --no-audit # step ${i}`);
        break;
      case 1:
        lines.push(
          `added ${rand(900)} packages, and audited ${rand(2000)} packages in ${rand(60)}s`,
        );
        break;
      case 2:
        lines.push(
          `Downloading https://registry.npmjs.org/@scope/pkg-${rand(500)}/-/pkg-${rand(9)}.${
            rand(20)
          }.${rand(30)}.tgz (${rand(9000)} kB)`,
        );
        break;
      case 3:
        lines.push(
          `[${rand(24)}:${rand(60)}:${rand(60)}] gcc -O2 -Wall -c src/module_${
            rand(300)
          }.c -o build/module_${rand(300)}.o`,
        );
        break;
      case 4:
        lines.push(
          `    at Object.<anonymous> (/builds/group/project/src/file_${rand(99)}.ts:${rand(400)}:${
            rand(80)
          })`,
        );
        break;
      case 5:
        lines.push(
          `✓ test suite ${rand(999)} passed — ${rand(100)} tests, ${rand(5000)} ms — übersicht ok`,
        );
        break;
      case 6:
        lines.push(
          `Fetching changes with git depth set to ${rand(50)}... glob pattern **/*.go matched ${
            rand(300)
          } files`,
        );
        break;
      case 7:
        if (rand(20) === 0) lines.push(`export API_KEY=${secrets[rand(10)]} # should be masked`);
        else {lines.push(
            `INFO Uploading artifacts for successful job ${
              rand(1e6)
            } to coordinator... 201 Created`,
          );}
        break;
      case 8:
        if (rand(30) === 0) {
          lines.push(
            `curl -H "PRIVATE-TOKEN: glpat-${
              "a1B2c3D4e5".repeat(2)
            }" https://gitlab.example.com/api/v4/projects`,
          );
        } else {lines.push(
            `Status: Downloaded newer image for registry.example.com/group/image:${rand(99)}`,
          );}
        break;
      case 9:
        if (rand(30) === 0) {
          lines.push(
            `GET https://s3.example.com/bucket/obj?X-Amz-Signature=${rand(1e9)}abcdef&x=1 200`,
          );
        } else {lines.push(
            `WARNING: apt does not have a stable CLI interface. Use with caution in scripts.`,
          );}
        break;
      case 10:
        if (rand(40) === 0) {
          lines.push(`git clone https://gitlab-ci-token:${secrets[0]}@gitlab.example.com/g/p.git`);
        } else {lines.push(
            `Compiling runner v0.1.0 (/builds/group/project) in ${rand(99)}.${rand(99)}s`,
          );}
        break;
      default:
        lines.push(
          `${"=".repeat(rand(40))} ${rand(100)}% [${"#".repeat(rand(30))}${" ".repeat(rand(30))}]`,
        );
    }
  }
  return new TextEncoder().encode(lines.join("\n") + "\n");
}

function rssBytes(): number {
  return Deno.memoryUsage().rss;
}

interface Run {
  seconds: number;
  rssGrowth: number;
  storedBytes: number;
}

function feed(sample: Uint8Array, sink: { write(b: Uint8Array): void }, onProbe: () => void): void {
  let sent = 0;
  let at = 0;
  let sinceProbe = 0;
  while (sent < totalBytes) {
    const n = Math.min(chunkBytes, totalBytes - sent, sample.length - at);
    sink.write(sample.subarray(at, at + n));
    sent += n;
    at = (at + n) % sample.length;
    sinceProbe += n;
    if (sinceProbe >= 16 * 1024 * 1024) {
      sinceProbe = 0;
      onProbe();
    }
  }
}

function measure(
  tempDir: string,
  sample: Uint8Array,
  isMasked: boolean,
  isTimestamped = false,
): Run {
  (globalThis as { gc?: () => void }).gc?.();
  const rssBefore = rssBytes();
  let rssPeak = rssBefore;
  const probe = () => (rssPeak = Math.max(rssPeak, rssBytes()));
  const store = new TraceStore({ openSpillFile: () => openTempSpillFile(tempDir) });
  const start = performance.now();
  let storedBytes: number;
  if (isMasked) {
    using trace = new JobTrace({
      mask: {
        phrases: secrets,
        tokenPrefixes: tokenMaskPrefixes([], { isMaskAllDefaultTokens: true }),
      },
      // Stamping adds 32 bytes to each line: room for them, so nothing is cut.
      outputLimitKiB: Math.ceil(totalBytes / 1024) * (isTimestamped ? 2 : 1) + 1024,
      store,
      isTimestamped,
    });
    feed(sample, trace, probe);
    trace.close();
    storedBytes = trace.size;
    probe();
  } else {
    feed(sample, { write: (b) => store.append(b) }, probe);
    storedBytes = store.size;
    probe();
    store.close();
  }
  const seconds = (performance.now() - start) / 1000;
  return { seconds, rssGrowth: rssPeak - rssBefore, storedBytes };
}

const MB = 1e6;
const tempDir = Deno.makeTempDirSync({ prefix: "trace-bench-" });
try {
  const sample = sampleLog();
  const baseline = measure(tempDir, sample, false);
  const masked = measure(tempDir, sample, true);
  const stamped = measure(tempDir, sample, true, true);
  const baseRate = totalBytes / MB / baseline.seconds;
  const maskRate = totalBytes / MB / masked.seconds;
  const stampRate = totalBytes / MB / stamped.seconds;
  const out = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(s + "\n"));
  out(
    `input: ${
      (totalBytes / MB).toFixed(0)
    } MB in ${chunkBytes}-byte writes, 10 masked secrets + token prefixes`,
  );
  out(
    `baseline (plain copy into TraceStore): ${baseRate.toFixed(0)} MB/s, RSS +${
      (baseline.rssGrowth / MB).toFixed(1)
    } MB`,
  );
  out(
    `JobTrace (mask+utf8+limit+crc+store): ${maskRate.toFixed(0)} MB/s, RSS +${
      (masked.rssGrowth / MB).toFixed(1)
    } MB, stored ${(masked.storedBytes / MB).toFixed(0)} MB`,
  );
  out(
    `JobTrace with FF_TIMESTAMPS (+ line stamps): ${stampRate.toFixed(0)} MB/s, RSS +${
      (stamped.rssGrowth / MB).toFixed(1)
    } MB, stored ${(stamped.storedBytes / MB).toFixed(0)} MB`,
  );
  out(
    `SUMMARY trace_throughput: jobtrace=${maskRate.toFixed(0)}MB/s baseline=${
      baseRate.toFixed(0)
    }MB/s ` +
      `ratio=${(maskRate / baseRate).toFixed(2)} rss_growth=${
        (masked.rssGrowth / MB).toFixed(1)
      }MB ` +
      `goal=${maskRate >= 400 ? "met" : "MISSED"}(>=400MB/s) rss_goal=${
        masked.rssGrowth <= 50 * MB ? "met" : "MISSED"
      }(<=50MB)`,
  );
  out(
    `SUMMARY trace_throughput_timestamps: stamped=${stampRate.toFixed(0)}MB/s ` +
      `ratio_to_unstamped=${(stampRate / maskRate).toFixed(2)} ratio_to_baseline=${
        (stampRate / baseRate).toFixed(2)
      } rss_growth=${(stamped.rssGrowth / MB).toFixed(1)}MB`,
  );
} finally {
  Deno.removeSync(tempDir, { recursive: true });
}
