import assert from "node:assert/strict";
import {
  formatByteRate,
  formatBytes,
  meterLine,
  TransferMeter,
  transferMeterInterval,
} from "./transfer_meter.ts";

Deno.test("transfer meter formats sizes and rates as the official meter does", () => {
  assert.equal(formatBytes(999), "999 B");
  assert.equal(formatBytes(1000), "1.00 KB");
  assert.equal(formatBytes(4_194_304), "4.19 MB");
  assert.equal(formatBytes(1_500_000_000), "1.50 GB");
  assert.equal(formatByteRate(512, 1000), "512 B/s");
  assert.equal(formatByteRate(2_000_000, 2000), "1.0 MB/s");
  assert.equal(
    meterLine("Downloading cache", 1_048_576, 4_194_304, 1000),
    "Downloading cache 1.05 MB/4.19 MB (1.0 MB/s)                ",
  );
  assert.equal(
    meterLine("Uploading cache", 10, 0, 1000),
    "Uploading cache 10 B (10 B/s)                ",
  );
});

Deno.test("transfer meter prints at start and a final line ending with a newline, once", () => {
  const out: string[] = [];
  let now = 0;
  const meter = new TransferMeter("Uploading cache", 3000, {
    progress: { write: (t) => out.push(t), intervalMs: 60_000 },
    now: () => now,
  });
  meter.add(3000);
  now = 1000;
  meter.done();
  meter.done();
  assert.deepEqual(out, [
    "\rUploading cache 0 B/3.00 KB (0 B/s)                ",
    "\rUploading cache 3.00 KB/3.00 KB (3.0 KB/s)                \n",
  ]);
});

Deno.test("transfer meter at a frequency longer than one timer holds (TRANSFER_METER_FREQUENCY=1000h) prints only its first and last line", async () => {
  // A 1000h interval is past 2^31-1 ms: a timer given it fires every millisecond.
  const out: string[] = [];
  const meter = new TransferMeter("Downloading cache", 0, {
    progress: { write: (t) => out.push(t), intervalMs: 1000 * 3_600_000 },
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  meter.done();
  assert.equal(out.length, 2, `${out.length} lines`);
});

Deno.test("TRANSFER_METER_FREQUENCY: 0 or unset is no meter, a negative duration a meter every second (the official meter's least), no duration an error", () => {
  assert.equal(transferMeterInterval(undefined), null);
  assert.equal(transferMeterInterval(""), null);
  assert.equal(transferMeterInterval("0"), null);
  assert.equal(transferMeterInterval("0s"), null);
  assert.equal(transferMeterInterval("2s"), 2000);
  assert.equal(transferMeterInterval("-5s"), 1000);
  assert.throws(() => transferMeterInterval("often"), /Invalid duration "often"/);
});
