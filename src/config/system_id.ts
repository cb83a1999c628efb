/**
 * The runner's system ID, stored in `.runner_system_id` beside config.toml and
 * sent to GitLab with every job request (and as the `system_id` metric label).
 * Format `^[sr]_[0-9a-zA-Z]{12}$`: `s_` + 12 hex of HMAC-SHA256 keyed with the
 * machine ID over "gitlab-runner" (stable across reinstalls, like upstream), or
 * `r_` + 12 random alphanumerics when there is no machine ID.
 */
import { dirname, join } from "../path/host_path.ts";

export const SYSTEM_ID_FILE = ".runner_system_id";

const SYSTEM_ID = /^[sr]_[0-9a-zA-Z]{12}$/;
const ALPHANUMERIC = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

export function isValidSystemId(id: string): boolean {
  return SYSTEM_ID.test(id);
}

/** `s_` + the first 12 hex characters of HMAC-SHA256(key = machineId, "gitlab-runner"). */
export async function systemIdFromMachineId(machineId: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(machineId),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, encoder.encode("gitlab-runner")),
  );
  const hex = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
  return `s_${hex.slice(0, 12)}`;
}

/** `r_` + 12 characters from [0-9a-zA-Z], using `randomBytes`. */
export function randomSystemId(randomBytes: (n: number) => Uint8Array): string {
  // 248 = 4 * 62: rejecting bytes above it keeps every character equally likely.
  let out = "";
  while (out.length < 12) {
    for (const b of randomBytes(16)) {
      if (b < 248 && out.length < 12) out += ALPHANUMERIC[b % 62];
    }
  }
  return `r_${out}`;
}

export interface SystemIdOptions {
  /** Files holding the machine ID, tried in order. */
  machineIdFiles?: readonly string[];
  randomBytes?: (n: number) => Uint8Array;
}

const DEFAULT_MACHINE_ID_FILES = ["/etc/machine-id", "/var/lib/dbus/machine-id"];

async function readMachineId(files: readonly string[]): Promise<string | null> {
  for (const file of files) {
    try {
      const id = (await Deno.readTextFile(file)).trim();
      if (id !== "") return id;
    } catch {
      // Absent or unreadable: try the next file, then fall back to a random ID.
    }
  }
  return null;
}

export interface SystemIdResult {
  systemId: string;
  /** Why the ID could not be stored (it is then only valid for this process); null when stored. */
  saveError: string | null;
}

/**
 * Returns the ID in `.runner_system_id` beside `configPath` when it is valid;
 * otherwise generates one and writes it (mode 0600, no newline).
 */
export async function loadOrCreateSystemId(
  configPath: string,
  options: SystemIdOptions = {},
): Promise<SystemIdResult> {
  const file = join(dirname(configPath), SYSTEM_ID_FILE);
  try {
    const existing = (await Deno.readTextFile(file)).trim();
    if (isValidSystemId(existing)) return { systemId: existing, saveError: null };
  } catch {
    // Missing or unreadable: generate below.
  }
  const machineId = await readMachineId(options.machineIdFiles ?? DEFAULT_MACHINE_ID_FILES);
  const randomBytes = options.randomBytes ??
    ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
  const systemId = machineId === null
    ? randomSystemId(randomBytes)
    : await systemIdFromMachineId(machineId);
  try {
    await Deno.mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(file, systemId, { mode: 0o600 });
    if (Deno.build.os !== "windows") await Deno.chmod(file, 0o600);
    return { systemId, saveError: null };
  } catch (error) {
    return { systemId, saveError: `Cannot write "${file}": ${(error as Error).message}` };
  }
}
