/**
 * An executor's permission set (executor_permissions.ts) as the
 * `deno: { permissions }` option of a Worker. Its own module, without imports:
 * the executor process of a compiled binary needs it before anything else, to
 * create the Worker its job runs in (cli/executor_entry.ts), and loads nothing
 * of the permission table for it.
 */
import type { ExecutorPermissions } from "./executor_permissions.ts";

/**
 * The same set as `deno: { permissions }` of a Worker: what the executor
 * process of a compiled binary (global grants) gives the thread that runs the
 * job. Everything not listed is denied, ffi and dynamic remote imports too.
 */
export function workerPermissions(perms: ExecutorPermissions): Deno.PermissionOptionsObject {
  const list = (values: string[]): string[] | false => {
    const unique = [...new Set(values)];
    return unique.length > 0 ? unique : false;
  };
  return {
    read: list(perms.read),
    write: list(perms.write),
    run: perms.run.includes("*") ? true : list(perms.run),
    net: perms.net.includes("*") ? true : list(perms.net),
    env: perms.env,
    sys: perms.sys,
    ffi: false,
    import: false,
  };
}
