/**
 * The job's final variable list (spec/gitlab-runner-api.md §8.1): what the
 * runner adds around the payload's variables, in the official order, expanded
 * once. Later entries win on duplicate keys.
 */
import type { JobVariable } from "../job/job_spec.ts";
import { joinPath } from "../shells/script_writer.ts";

/**
 * Value of `key` in `variables`, last occurrence winning. A file variable
 * yields the path of its file under `RUNNER_TEMP_PROJECT_DIR`, as `$KEY` does
 * in the job. Undefined when absent.
 */
export function lookupVariable(
  variables: readonly JobVariable[],
  key: string,
): string | undefined {
  for (let i = variables.length - 1; i >= 0; i--) {
    const v = variables[i]!;
    if (v.key !== key) continue;
    if (!v.file) return v.value;
    return joinPath(lookupVariable(variables, TEMP_PROJECT_DIR_KEY) ?? "", v.key);
  }
  return undefined;
}

export const TEMP_PROJECT_DIR_KEY = "RUNNER_TEMP_PROJECT_DIR";

const SPECIAL = new Set([
  "*",
  "#",
  "$",
  "@",
  "!",
  "?",
  "-",
  "0",
  "1",
  "2",
  "3",
  "4",
  "5",
  "6",
  "7",
  "8",
  "9",
]);
const NAME_CHAR = /[A-Za-z0-9_]/;

/**
 * Expands `$VAR` and `${VAR}` once, like Go's os.Expand over the runner's
 * variable list: unknown names become "", `$$` becomes `$`, a `$` not
 * followed by a name stays, and malformed `${` is dropped.
 */
export function expandValue(value: string, lookup: (key: string) => string | undefined): string {
  if (!value.includes("$")) return value;
  const get = (name: string): string => {
    if (name === "$") return "$";
    if (SPECIAL.has(name)) return "";
    return lookup(name) ?? "";
  };
  let out = "";
  let i = 0;
  while (i < value.length) {
    const c = value[i]!;
    if (c !== "$" || i + 1 >= value.length) {
      out += c;
      i++;
      continue;
    }
    const next = value[i + 1]!;
    if (next === "{") {
      if (SPECIAL.has(value[i + 2] ?? "") && value[i + 3] === "}") {
        out += get(value[i + 2]!);
        i += 4;
        continue;
      }
      const close = value.indexOf("}", i + 2);
      if (close < 0) {
        i += 2; // bad syntax: "${" is eaten
        continue;
      }
      if (close === i + 2) {
        i += 3; // "${}" is eaten
        continue;
      }
      out += get(value.slice(i + 2, close));
      i = close + 1;
      continue;
    }
    if (SPECIAL.has(next)) {
      out += get(next);
      i += 2;
      continue;
    }
    let j = i + 1;
    while (j < value.length && NAME_CHAR.test(value[j]!)) j++;
    if (j === i + 1) {
      out += "$";
      i++;
      continue;
    }
    out += get(value.slice(i + 1, j));
    i = j;
  }
  return out;
}

/** Expands every non-raw variable once against the whole (unexpanded) list. */
export function expandVariables(variables: readonly JobVariable[]): JobVariable[] {
  const lookup = (key: string) => lookupVariable(variables, key);
  return variables.map((v) => (v.raw ? { ...v } : { ...v, value: expandValue(v.value, lookup) }));
}

/** A runner-provided variable: public, not a file, not masked, not raw. */
export function runnerVariable(key: string, value: string): JobVariable {
  return { key, value, public: true, file: false, masked: false, raw: false };
}

/** Parses the runner's `environment` entries (`KEY=value`); entries without `=` are skipped. */
export function parseEnvironment(entries: readonly string[]): JobVariable[] {
  const out: JobVariable[] = [];
  for (const entry of entries) {
    const eq = entry.indexOf("=");
    if (eq <= 0) continue;
    out.push({ ...runnerVariable(entry.slice(0, eq), entry.slice(eq + 1)), public: false });
  }
  return out;
}

export interface RunnerVersion {
  /** `gitlab-runner`, as the official job log header says. */
  name: string;
  version: string;
  revision: string;
  /** `linux`, `darwin`, … (Go's GOOS). */
  os: string;
  /** `amd64`, `arm64`, … (Go's GOARCH). */
  arch: string;
}

export interface JobVariablesInput {
  jobVariables: readonly JobVariable[];
  imageName: string;
  shortToken: string;
  /** The runner entry's `environment`. */
  environment: readonly string[];
  featureFlags: Readonly<Record<string, boolean>>;
  buildsDir: string;
  projectDir: string;
  concurrentId: number;
  concurrentProjectId: number;
  /** CI_JOB_STATUS: `running`, then `success`/`failed`/`canceled`/`timedout` for after_script. */
  jobStatus: string;
  timeoutSeconds: number;
  isSharedEnvironment: boolean;
  version: RunnerVersion;
  /** The runner's TLS material for the job (git, helper commands); absent: none. */
  tls?: JobTls;
}

/** PEM contents; "" when not configured. */
export interface JobTls {
  caChain: string;
  cert: string;
  key: string;
}

/** The job's file variables holding the runner's TLS material (official names). */
export const TLS_CA_FILE_KEY = "CI_SERVER_TLS_CA_FILE";
export const TLS_CERT_FILE_KEY = "CI_SERVER_TLS_CERT_FILE";
export const TLS_KEY_FILE_KEY = "CI_SERVER_TLS_KEY_FILE";

function tlsVariables(tls: JobTls | undefined): JobVariable[] {
  const file = (key: string, value: string, isPublic: boolean): JobVariable => ({
    key,
    value,
    public: isPublic,
    file: true,
    masked: false,
    raw: true,
  });
  const out: JobVariable[] = [];
  if (tls?.caChain) out.push(file(TLS_CA_FILE_KEY, tls.caChain, true));
  if (tls?.cert && tls.key) {
    out.push(file(TLS_CERT_FILE_KEY, tls.cert, true), file(TLS_KEY_FILE_KEY, tls.key, false));
  }
  return out;
}

/** The list in §8.1 order, then expanded once. */
export function buildJobVariables(input: JobVariablesInput): JobVariable[] {
  const list: JobVariable[] = [];
  for (const [name, on] of Object.entries(input.featureFlags)) {
    list.push(runnerVariable(name, String(on)));
  }
  if (input.imageName !== "") list.push(runnerVariable("CI_JOB_IMAGE", input.imageName));
  list.push(runnerVariable("CI_RUNNER_SHORT_TOKEN", input.shortToken));
  list.push(...parseEnvironment(input.environment));
  list.push(
    runnerVariable("CI_BUILDS_DIR", input.buildsDir),
    runnerVariable("CI_PROJECT_DIR", input.projectDir),
    runnerVariable("CI_CONCURRENT_ID", String(input.concurrentId)),
    runnerVariable("CI_CONCURRENT_PROJECT_ID", String(input.concurrentProjectId)),
    runnerVariable("CI_SERVER", "yes"),
    runnerVariable("CI_JOB_STATUS", input.jobStatus),
    runnerVariable("CI_JOB_TIMEOUT", String(Math.floor(input.timeoutSeconds))),
  );
  // As the official runner: after the default variables, before the job's own.
  list.push(...tlsVariables(input.tls));
  // FF_* job variables were consumed when the flags were resolved.
  list.push(
    ...input.jobVariables.filter((v) => !(v.key in input.featureFlags)).map((v) => ({ ...v })),
  );
  list.push(
    runnerVariable(
      input.isSharedEnvironment ? "CI_SHARED_ENVIRONMENT" : "CI_DISPOSABLE_ENVIRONMENT",
      "true",
    ),
    runnerVariable("CI_RUNNER_VERSION", input.version.version),
    runnerVariable("CI_RUNNER_REVISION", input.version.revision),
    runnerVariable("CI_RUNNER_EXECUTABLE_ARCH", `${input.version.os}/${input.version.arch}`),
    runnerVariable(TEMP_PROJECT_DIR_KEY, `${input.projectDir}.tmp`),
  );
  return expandVariables(list);
}
