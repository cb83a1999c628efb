/**
 * `zlib.crc32` (Node 22.2+) for type checking only. Programs that also load
 * @types/dockerode or @types/ssh2 get their older @types/node, which lacks
 * it, and archive/_deflate.ts then fails to type-check; every program that
 * joins the archive code with an executor (cli/executor_process.ts) goes
 * through this folder, so the declaration lives here. Runtime is unaffected:
 * Deno's node:zlib has crc32.
 */
declare module "node:zlib" {
  export function crc32(data: string | Uint8Array, value?: number): number;
}

export {};
