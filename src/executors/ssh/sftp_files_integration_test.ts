/**
 * Artifacts and cache over SFTP against a real sshd: archives made from the
 * remote project dir, cache archives written atomically and extracted back,
 * all on the executor's own connection.
 */
import assert from "node:assert/strict";
import type { ArchiveSource } from "../../archive/archive_source.ts";
import { extractZip } from "../../archive/zip_extractor.ts";
import { readZipDirectory } from "../../archive/zip_reader.ts";
import { zipStream } from "../../archive/zip_writer.ts";
import { BytesReader } from "../../archive/random_access_reader.ts";
import type { LogFields, Logger } from "../../log/logger.ts";
import { type SshdFixture, sshdSkipReason, startSshd } from "../../../tests/fixtures/sshd.ts";
import { CollectedOutput, contractScript } from "../executor_contract.ts";
import { SshExecutor } from "./ssh_executor.ts";

class SilentLogger implements Logger {
  debug(_msg: string, _fields?: LogFields): void {}
  info(_msg: string, _fields?: LogFields): void {}
  warn(_msg: string, _fields?: LogFields): void {}
  error(_msg: string, _fields?: LogFields): void {}
  child(_fields: LogFields): Logger {
    return this;
  }
}

const skip = await sshdSkipReason();
if (skip) {
  // deno-lint-ignore no-console -- a skipped suite must say why
  console.log(`Skipping SFTP integration tests: ${skip}`);
}
const ignore = skip !== null;
const never = () => new AbortController().signal;

async function prepared(server: SshdFixture, output = new CollectedOutput()): Promise<SshExecutor> {
  const executor = new SshExecutor({
    config: {
      host: server.host,
      port: String(server.port),
      user: server.user,
      password: "",
      identityFile: server.identityFile,
      disableStrictHostKeyChecking: false,
      knownHostsFile: server.knownHostsFile,
    },
    shell: "bash",
    buildsDir: `${server.workDir}/builds`,
    cacheDir: `${server.workDir}/cache`,
    output,
    log: new SilentLogger(),
    homeDir: "/nonexistent",
    connect: { attempts: 1 },
  });
  await executor.prepare(never());
  return executor;
}

/** Every entry under the root, parents first, as artifact collection lists them. */
async function walk(source: ArchiveSource, dir = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await source.readDir(dir)).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = dir === "" ? e.name : `${dir}/${e.name}`;
    out.push(path);
    if (e.kind === "dir") out.push(...await walk(source, path));
  }
  return out;
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test({
  name: "Artifacts and cache round-trip over SFTP with modes, symlinks and large files intact",
  ignore,
  fn: async () => {
    await using server = await startSshd();
    const output = new CollectedOutput();
    await using executor = await prepared(server, output);
    const project = `${executor.paths.buildsDir}/group/project`;
    // The job makes its files on the remote host, as a real job would.
    const made = await executor.run({
      stage: "step_script",
      script: contractScript([
        `mkdir -p '${project}/out/nested' && cd '${project}'`,
        "printf 'hello artifact\\n' > out/hello.txt",
        "printf '#!/bin/sh\\necho run\\n' > out/run.sh && chmod 755 out/run.sh",
        "head -c 3000000 /dev/urandom > out/nested/big.bin",
        "ln -s hello.txt out/link-to-hello",
        // Links leading out of the project come back as they are (a venv's bin/python).
        "ln -s /usr/bin/python3 out/python",
        "ln -s ../../x out/up",
        "touch -d '2020-01-02 03:04:05' out/hello.txt",
      ]),
    }, never());
    assert.equal(made, 0, output.text());

    const files = executor.files();
    const source = files.archiveSource(project);
    const paths = await walk(source);
    assert.deepEqual(paths, [
      "out",
      "out/hello.txt",
      "out/link-to-hello",
      "out/nested",
      "out/nested/big.bin",
      "out/python",
      "out/run.sh",
      "out/up",
    ]);
    const zip = await collect(zipStream(source, paths, { level: "fast" }));
    const entries = await readZipDirectory(new BytesReader(zip));
    assert.equal(entries.length, 8);

    // Cache archive: written atomically next to where the cache lives, read back by range.
    const cachePath = `${executor.paths.cacheDir}/group/project/main/cache.zip`;
    await files.writeAtomic(
      cachePath,
      ReadableStream.from([zip.subarray(0, 1000), zip.subarray(1000)]),
    );
    assert.equal((await files.stat(cachePath))?.size, zip.length);
    const leftovers = (await files.archiveSource(`${executor.paths.cacheDir}/group/project/main`)
      .readDir("")).map((e) => e.name);
    assert.deepEqual(leftovers, ["cache.zip"]);

    const restoreDir = `${executor.paths.buildsDir}/group/restored`;
    const reader = await files.openReader(cachePath);
    try {
      const result = await extractZip(reader, await files.archiveTarget(restoreDir));
      assert.equal(result.files, 3);
      assert.equal(result.symlinks, 3);
    } finally {
      await reader.close();
    }

    const check = await executor.run({
      stage: "step_script",
      script: contractScript([
        `cd '${restoreDir}/out'`,
        "cat hello.txt",
        "echo link=$(readlink link-to-hello)",
        "echo outward=$(readlink python),$(readlink up)",
        "echo mode=$(stat -c %a run.sh)",
        "echo mtime=$(date -u -r hello.txt +%Y-%m-%dT%H:%M:%S)",
        `cmp nested/big.bin '${project}/out/nested/big.bin' && echo big-same`,
        "echo owner=$(stat -c %U hello.txt)",
      ]),
    }, never());
    assert.equal(check, 0, output.text());
    const text = output.text();
    assert.match(text, /hello artifact/);
    assert.match(text, /link=hello\.txt/);
    assert.match(text, /outward=\/usr\/bin\/python3,\.\.\/\.\.\/x/);
    assert.match(text, /mode=755/);
    assert.match(text, /mtime=2020-01-02T03:04:05/);
    assert.match(text, /big-same/);
    assert.match(text, /owner=runner-ssh-test/);

    // Replacing the cache keeps one file, and a second writer sees whole files only.
    await files.writeAtomic(cachePath, new TextEncoder().encode("second"));
    assert.equal(new TextDecoder().decode(await files.readFile(cachePath)), "second");
  },
});

Deno.test({
  name: "SFTP extraction never follows a symlink planted in the target directory",
  ignore,
  fn: async () => {
    await using server = await startSshd();
    const output = new CollectedOutput();
    await using executor = await prepared(server, output);
    const outside = `${server.workDir}/outside`;
    const target = `${executor.paths.buildsDir}/victim`;
    const made = await executor.run({
      stage: "step_script",
      script: contractScript([
        `mkdir -p '${outside}' '${target}'`,
        `ln -s '${outside}' '${target}/evil'`,
        `printf original > '${target}/file.txt'`,
        `ln -s '${outside}/stolen.txt' '${target}/through-link.txt'`,
      ]),
    }, never());
    assert.equal(made, 0, output.text());

    const files = executor.files();
    const sourceRoot = `${executor.paths.buildsDir}/source`;
    await files.mkdirAll(`${sourceRoot}/evil`);
    await files.writeAtomic(`${sourceRoot}/evil/payload.txt`, new TextEncoder().encode("payload"));
    await files.writeAtomic(`${sourceRoot}/through-link.txt`, new TextEncoder().encode("replaced"));
    const source = files.archiveSource(sourceRoot);
    const zipOfDir = await collect(
      zipStream(source, ["evil", "evil/payload.txt"], { level: "fast" }),
    );
    const zipOfFile = await collect(zipStream(source, ["through-link.txt"], { level: "fast" }));

    await assert.rejects(
      extractZip(new BytesReader(zipOfDir), await files.archiveTarget(target)),
      /Cannot extract into "evil": it is a symlink in the target directory, which is never followed/,
    );
    // A file whose path is an existing symlink replaces the link instead of writing through it.
    await extractZip(new BytesReader(zipOfFile), await files.archiveTarget(target));
    assert.equal((await files.stat(`${target}/through-link.txt`))?.kind, "file");
    assert.equal(await files.stat(`${outside}/payload.txt`), null);
    assert.equal(await files.stat(`${outside}/stolen.txt`), null);
  },
});

Deno.test({
  name: "SFTP reads name the missing remote path",
  ignore,
  fn: async () => {
    await using server = await startSshd();
    await using executor = await prepared(server);
    const files = executor.files();
    assert.equal(await files.stat(`${server.workDir}/nothing`), null);
    await assert.rejects(
      files.readFile(`${server.workDir}/nothing`),
      (err: unknown) =>
        err instanceof Deno.errors.NotFound &&
        /Cannot read ".*\/nothing" on the remote host/.test(err.message),
    );
    await assert.rejects(
      files.archiveSource(server.workDir).readDir("missing-dir"),
      Deno.errors.NotFound,
    );
  },
});
