/**
 * Runs a module in a Worker whose Deno permissions are a narrowed set, in a
 * process that itself holds broad grants (a `deno compile` binary bakes its
 * grants in globally, and Deno 2 cannot revoke one path of a global grant).
 * Needs `--unstable-worker-options` (scripts/compile.ts passes it).
 *
 * Call order: the thread starts the worker and posts `init` (when given) as
 * its first message. The worker module posts `{ type: "ready" }` from its top
 * level: Deno 2.9 loads a worker's entry module graph with its creator's permissions, so
 * only then (with `isRevokingOwn`) does the thread revoke every permission kind
 * of its own; the worker keeps its set (and its later dynamic imports load).
 * The worker posts `{ type: "exit", code }` when done;
 * an uncaught error in it resolves 1 after `onError`. Disposal is not needed:
 * the promise settles once, when the worker is finished or failed, and the
 * worker is terminated then.
 */

/** What a scoped worker module posts once loaded. */
export interface WorkerReady {
  type: "ready";
}

/** What a scoped worker module posts when it is done. */
export interface WorkerExit {
  type: "exit";
  code: number;
}

export interface ScopedWorkerOptions {
  permissions: Deno.PermissionOptionsObject;
  /** First message the worker receives, if any. */
  init?: unknown;
  /** Revoke every kind of this thread's own permissions once the worker exists. */
  isRevokingOwn?: boolean;
  /** Called once the worker module is loaded (its `ready`), after `isRevokingOwn`. */
  onReady?: () => void;
  /** Messages other than `exit` (e.g. a poller asking to be re-scoped). */
  onMessage?: (message: unknown, worker: Worker) => void;
  onError?: (message: string) => void;
}

const KINDS = ["read", "write", "net", "env", "sys", "run", "ffi", "import"] as const;

function revokeOwn(): void {
  for (const name of KINDS) Deno.permissions.revokeSync({ name } as Deno.PermissionDescriptor);
}

/** Starts `module` in a scoped worker; resolves the code it exits with. */
export async function runScopedWorker(module: URL, options: ScopedWorkerOptions): Promise<number> {
  const worker = startScopedWorker(module, options);
  const code = await worker.exited;
  return code;
}

export interface ScopedWorker {
  worker: Worker;
  exited: Promise<number>;
}

export function startScopedWorker(module: URL, options: ScopedWorkerOptions): ScopedWorker {
  const worker = new Worker(module, {
    type: "module",
    // deno-lint-ignore no-explicit-any -- `deno` is the unstable worker option, absent from the stable lib types
    deno: { permissions: options.permissions } as any,
  });
  const exited = new Promise<number>((resolve) => {
    worker.onmessage = (e: MessageEvent) => {
      const data = e.data as Partial<WorkerExit> | Partial<WorkerReady> | null;
      if (data?.type === "ready") {
        if (options.isRevokingOwn) revokeOwn();
        options.onReady?.();
      } else if (data?.type === "exit") {
        worker.terminate();
        resolve(typeof data.code === "number" ? data.code : 1);
      } else options.onMessage?.(e.data, worker);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      options.onError?.(e.message);
      worker.terminate();
      resolve(1);
    };
  });
  if ("init" in options) worker.postMessage(options.init);
  return { worker, exited };
}
