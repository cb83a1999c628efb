/**
 * A copy of the config that is safe to log: runner tokens become their short
 * form, other secrets "[MASKED]", environment values are hidden, and URL
 * credentials are removed. Works on typed fields and on raw unsupported values.
 */
import type { GlobalConfig } from "./runner_config.ts";
import { shortToken } from "./short_token.ts";

export const MASKED = "[MASKED]";

// password, SecretKey, sessionToken, bearer_token, PrivateKey, AccountKey,
// accessKey, sentry_dsn...; "token" alone is the runner token (short form).
const SECRET_NAME =
  /(password|secret|token$|private_?key|account_?key|access_?key|dsn$|credentials$)/i;
const ENVIRONMENT_NAME = /^environment$/i;

function maskUrl(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, `$1${MASKED}@`);
}

function maskValue(name: string, value: unknown): unknown {
  if (typeof value === "string") {
    if (name === "token") return value === "" ? "" : `${shortToken(value)}${MASKED}`;
    if (SECRET_NAME.test(name)) return value === "" ? "" : MASKED;
    return maskUrl(value);
  }
  if (Array.isArray(value)) {
    if (ENVIRONMENT_NAME.test(name)) {
      return value.map((v) => typeof v === "string" ? v.replace(/=.*$/s, `=${MASKED}`) : v);
    }
    if (/options/i.test(name)) {
      // MachineOptions-style "driver-secret=value" entries.
      return value.map((v) =>
        typeof v === "string" && SECRET_NAME.test(v.split("=")[0] ?? "")
          ? v.replace(/=.*$/s, `=${MASKED}`)
          : maskValue("", v)
      );
    }
    return value.map((v) => maskValue("", v));
  }
  if (typeof value === "object" && value !== null && !(value instanceof Date)) {
    // Below a secret name (envExpansion.token), every string is that secret.
    const inherit = name === "token" || SECRET_NAME.test(name);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = maskValue(inherit ? name : k, v);
    return out;
  }
  return value;
}

export function maskSecrets(config: GlobalConfig): GlobalConfig {
  return maskValue("", config) as GlobalConfig;
}
