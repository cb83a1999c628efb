import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { connectDocker } from "./docker_connection.ts";

const { test } = Deno;
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** The CommonJS modules a fresh process has loaded once it imported the docker executor and listed containers. */
async function loadedModules(): Promise<string[]> {
  const code = `
    import { createRequire } from "node:module";
    const { connectDocker } = await import(${
    JSON.stringify(new URL("./mod.ts", import.meta.url).href)
  });
    const docker = await connectDocker({ host: "", tlsCertPath: "", tlsVerify: false });
    await docker.listContainers({ limit: 1 });
    console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", "--ext=ts", code],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout)) as string[];
}

test("a docker job's process does not load dockerode's BuildKit session (grpc, protobuf)", async () => {
  const loaded = await loadedModules();
  assert.ok(
    loaded.some((m) => m.includes("docker-modem")),
    "the client talks through docker-modem",
  );
  assert.ok(loaded.some((m) => m.includes("dockerode")), "dockerode's container objects");
  assert.deepEqual(
    loaded.filter((m) => /@grpc|proto-loader|protobufjs|dockerode\/[^/]+\/lib\/docker\.js/.test(m)),
    [],
  );
});

test("the docker client creates, lists and removes a network through the daemon", async () => {
  const docker = await connectDocker({ host: "", tlsCertPath: "", tlsVerify: false });
  const mark = crypto.randomUUID();
  const filters = JSON.stringify({ label: [`runner.test.docker-client=${mark}`] });
  const network = await docker.createNetwork({
    Name: `runner-docker-client-${mark}`,
    Labels: { "runner.test.docker-client": mark },
  });
  try {
    const listed = await docker.listNetworks({ filters });
    assert.deepEqual(listed.map((n) => n.Id), [network.id]);
  } finally {
    await network.remove();
  }
  assert.deepEqual(await docker.listNetworks({ filters }), []);
});
