/**
 * The docker adapters against a real container through the Engine archive
 * API: snapshot sources, staged extraction (never through a symlink) and the
 * cache store on the container's file system.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
// @ts-types="@types/dockerode"
import Docker from "dockerode";
import {
  BUSYBOX_TEST_IMAGE,
  dockerSkipReason,
  hasImage,
} from "../../tests/fixtures/docker_images.ts";
import { ArchiveError } from "../archive/archive_error.ts";
import { BytesReader } from "../archive/random_access_reader.ts";
import { craftZip, firstBlockSize } from "../archive/crafted_zip.ts";
import { extractZip } from "../archive/zip_extractor.ts";
import { writeZip, zipStream } from "../archive/zip_writer.ts";
import { selectFiles } from "../artifacts/file_selection.ts";
import { ContainerFiles } from "../executors/docker/container_files.ts";
import { DistributedCacheStore } from "../cache/distributed_cache_store.ts";
import { ContainerCacheStore } from "./container_cache_store.ts";
import { ContainerSnapshot } from "./container_snapshot.ts";
import { ContainerStagedTarget } from "./container_staged_target.ts";

const skip = (await dockerSkipReason()) ??
  (await hasImage(BUSYBOX_TEST_IMAGE) ? null : `image ${BUSYBOX_TEST_IMAGE} is absent`);
// deno-lint-ignore no-console -- a skipped suite must say why
if (skip) console.log(`Skipping container job files tests: ${skip}`);

async function sh(...args: string[]): Promise<string> {
  const out = await new Deno.Command("docker", { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`docker ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text.trim();
}

async function withContainer(
  fn: (files: ContainerFiles, id: string) => Promise<void>,
): Promise<void> {
  const id = await sh("run", "-d", "--rm", BUSYBOX_TEST_IMAGE, "sleep", "600");
  try {
    const docker = new Docker({ socketPath: "/var/run/docker.sock" });
    await fn(new ContainerFiles(docker.getContainer(id)), id);
  } finally {
    await sh("rm", "-f", id).catch(() => "");
  }
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

Deno.test({
  name:
    "files selected from a container snapshot are zipped and extracted into another container dir",
  ignore: skip !== null,
  fn: () =>
    withContainer(async (files, id) => {
      await sh(
        "exec",
        id,
        "sh",
        "-c",
        [
          "mkdir -p /builds/p/out/deep /builds/q",
          "echo one > /builds/p/out/one.txt",
          "echo deep > /builds/p/out/deep/two.txt",
          "ln -s one.txt /builds/p/out/link",
          "ln -s /etc /builds/p/out/etc",
          "ln -s ../../x /builds/p/out/up",
        ].join(" && "),
      );
      const snapshot = await ContainerSnapshot.open(files, "/builds/p");
      try {
        const paths = await selectFiles(
          { paths: ["out/**"], exclude: [], untracked: false },
          { source: snapshot, projectDir: "/builds/p", log: () => {} },
        );
        assert.deepEqual(paths, [
          "out",
          "out/deep",
          "out/deep/two.txt",
          "out/etc",
          "out/link",
          "out/one.txt",
          "out/up",
        ]);
        const zip = await bytesOf(zipStream(snapshot, paths, { level: "default" }));
        const session = await ContainerStagedTarget.open(files, "/builds/q");
        try {
          await extractZip(new BytesReader(zip), session.target);
          await session.commit(new AbortController().signal);
        } finally {
          await session.discard();
        }
      } finally {
        await snapshot.close();
      }
      assert.equal(
        await sh("exec", id, "cat", "/builds/q/out/one.txt", "/builds/q/out/deep/two.txt"),
        "one\ndeep",
      );
      assert.equal(await sh("exec", id, "readlink", "/builds/q/out/link"), "one.txt");
      assert.equal(
        await sh("exec", id, "readlink", "/builds/q/out/etc"),
        "/etc",
        "a symlink stays a symlink",
      );
      // dockerd refuses a relative link leaving the directory the tar is put in.
      assert.equal(await sh("exec", id, "readlink", "/builds/q/out/up"), "../../x");
    }),
});

Deno.test({
  name:
    "extraction into a container refuses a directory that is a symlink there and writes nothing through it",
  ignore: skip !== null,
  fn: () =>
    withContainer(async (files, id) => {
      await sh(
        "exec",
        id,
        "sh",
        "-c",
        "mkdir -p /builds/p /outside && ln -s /outside /builds/p/evil",
      );
      const zip = craftZip([{ name: "evil/x.txt", content: "pwned" }, {
        name: "ok.txt",
        content: "ok",
      }]);
      const session = await ContainerStagedTarget.open(files, "/builds/p");
      try {
        await extractZip(new BytesReader(zip), session.target);
        await assert.rejects(
          session.commit(new AbortController().signal),
          (err) => err instanceof ArchiveError && /"evil".*symlink/.test(err.message),
        );
      } finally {
        await session.discard();
      }
      assert.equal(
        await sh("exec", id, "ls", "-A", "/outside"),
        "",
        "nothing written through the link",
      );
      assert.equal(
        await sh("exec", id, "sh", "-c", "test -e /builds/p/ok.txt && echo yes || echo no"),
        "no",
        "nothing committed at all",
      );
    }),
});

Deno.test({
  name: "the container cache store writes <root>/<key>/cache.zip with metadata and reads it back",
  ignore: skip !== null,
  fn: () =>
    withContainer(async (files, id) => {
      const store = new ContainerCacheStore(files, "/cache/acme/widget");
      assert.equal(await store.open("deps/main"), null);
      assert.equal(await store.modified("deps/main"), null);
      const archive = craftZip([{ name: "vendor/lib.txt", content: "cached" }]);
      assert.equal(
        await store.save("deps/main", "deps/main", ReadableStream.from([archive])),
        archive.length,
      );
      assert.equal(
        await sh("exec", id, "cat", "/cache/acme/widget/deps/main/metadata.json"),
        '{"cachekey":"deps/main"}',
      );
      assert.ok(await store.modified("deps/main"));
      const reader = await store.open("deps/main");
      assert.ok(reader);
      try {
        assert.deepEqual(await reader.read(0, reader.size), archive);
      } finally {
        await reader.close();
      }
    }),
});

Deno.test({
  name:
    "a distributed cache over the container store uploads the host copy of a new archive: nothing is read back from the container",
  ignore: skip !== null,
  fn: () =>
    withContainer(async (files, id) => {
      const tarsRead: string[] = [];
      const counted = {
        getTar: (path: string) => {
          tarsRead.push(path);
          return files.getTar(path);
        },
        putTar: files.putTar.bind(files),
        stat: files.stat.bind(files),
      };
      const uploads: Uint8Array[] = [];
      const store = new DistributedCacheStore({
        local: new ContainerCacheStore(counted, "/cache/acme/widget"),
        urls: {
          presign: (key, method) =>
            Promise.resolve({ url: `http://s3.test/b/${key}?${method}`, headers: {} }),
        },
        transfer: {
          get: () => Promise.reject(new Error("no download expected")),
          put: async (_request, body) => {
            uploads.push(await body.read(0, body.size));
            return { status: 200, headers: new Headers(), text: "" };
          },
        },
        maxUploadedArchiveSize: 0,
        log: () => {},
        signal: new AbortController().signal,
      });
      const archive = craftZip([{ name: "vendor/lib.txt", content: "cached" }]);
      assert.equal(
        await store.save("deps/main", "deps/main", ReadableStream.from([archive])),
        archive.length,
      );
      assert.deepEqual(uploads, [archive]);
      assert.deepEqual(tarsRead, []);
      // And the container holds the same archive.
      const md5 = createHash("md5").update(archive).digest("hex");
      assert.equal(
        await sh("exec", id, "md5sum", "/cache/acme/widget/deps/main/cache.zip"),
        `${md5}  /cache/acme/widget/deps/main/cache.zip`,
      );
    }),
});

Deno.test({
  name:
    "a container snapshot reads its files without waiting: FF_USE_FASTZIP's threads compress them",
  ignore: skip !== null,
  fn: () =>
    withContainer(async (files, id) => {
      await sh(
        "exec",
        id,
        "sh",
        "-c",
        "mkdir -p /builds/p/out /builds/q && seq 1 400000 > /builds/p/out/big.txt && echo s > /builds/p/out/s",
      );
      const snapshot = await ContainerSnapshot.open(files, "/builds/p");
      try {
        const big = await snapshot.readFile("out/big.txt");
        const into = new Uint8Array(big.length);
        assert.equal(snapshot.readFileInto("out/big.txt", into), big.length);
        assert.deepEqual(into, big);
        assert.equal(snapshot.readFileInto("out/big.txt", new Uint8Array(10)), -1, "too small");
        const at = new Uint8Array(100);
        assert.equal(snapshot.readFileAt("out/big.txt", big.length - 30, at), 30);
        assert.deepEqual(at.subarray(0, 30), big.subarray(big.length - 30));
        assert.equal(snapshot.readFileAt("out/big.txt", big.length, at), 0);

        const chunks: Uint8Array[] = [];
        await writeZip(snapshot, ["out", "out/big.txt", "out/s"], {
          write: (bytes) => Promise.resolve(void chunks.push(bytes.slice())),
        }, { level: "fast", concurrency: 2 });
        const zip = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        chunks.reduce((o, c) => (zip.set(c, o), o + c.length), 0);
        assert.equal(firstBlockSize(zip, "out/big.txt"), 256 << 10);
        const session = await ContainerStagedTarget.open(files, "/builds/q");
        try {
          await extractZip(new BytesReader(zip), session.target);
          await session.commit(new AbortController().signal);
        } finally {
          await session.discard();
        }
      } finally {
        await snapshot.close();
      }
      assert.equal(await sh("exec", id, "sh", "-c", "tail -n 1 /builds/q/out/big.txt"), "400000");
    }),
});
