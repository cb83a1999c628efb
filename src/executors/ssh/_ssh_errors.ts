/**
 * Everything we read out of ssh2's and sshd's error strings, in one place.
 * ssh2 tags its errors with a `level`; messages are matched only where the
 * level is not precise enough.
 */

/** ssh2's `err.level` values (lib/client.js). */
export type Ssh2ErrorLevel =
  | "client-socket" // TCP error: refused, reset, unreachable
  | "client-timeout" // readyTimeout or keepalive timeout
  | "client-authentication" // every auth method was refused
  | "protocol" // handshake or packet error
  | "agent"
  | string;

export function errorLevel(err: unknown): Ssh2ErrorLevel {
  const level = (err as { level?: unknown } | null)?.level;
  return typeof level === "string" ? level : "";
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    // Node socket errors carry the errno name; "connect ECONNREFUSED 127.0.0.1:22" already says it.
    return typeof code === "string" && !err.message.includes(code)
      ? `${err.message} (${code})`
      : err.message;
  }
  return String(err);
}

/** ssh2: "All configured authentication methods failed". */
export function isAuthenticationFailure(err: unknown): boolean {
  return errorLevel(err) === "client-authentication";
}

/** ssh2 kex.js: "Host denied (verification failed)": our hostVerifier said no. */
export function isHostKeyRefusal(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith("Host denied");
}

/** ssh2 utils.parseKey: "Encrypted private OpenSSH key detected, but no passphrase given" and alike. */
export function isMissingPassphrase(err: Error): boolean {
  return /no passphrase given/i.test(err.message);
}

/** ssh2 utils.parseKey with a wrong passphrase: "… bad decrypt" (PEM) or "… integrity check failed" (OpenSSH). */
export function isBadPassphrase(err: Error): boolean {
  return /bad decrypt|integrity check failed|bad passphrase|wrong passphrase/i.test(err.message);
}

/**
 * ssh2: "(SSH) Channel open failure: open failed": sshd refused another
 * session on the connection, which OpenSSH does past its MaxSessions.
 */
export function isSessionRefused(err: unknown): boolean {
  return err instanceof Error && /Channel open failure/.test(err.message);
}

/** What a refused session means, for the job log. */
export const SESSION_REFUSED_HINT =
  "the server refused another session on this connection: a job holds 2 at once (SFTP and the stage) and 3 while a stage is cancelled; check MaxSessions in its sshd_config";

/** SFTP status codes (draft-ietf-secsh-filexfer-02) ssh2 puts in `err.code`. */
export const SFTP_NO_SUCH_FILE = 2;
export const SFTP_PERMISSION_DENIED = 3;
export const SFTP_FAILURE = 4;

export function sftpCode(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : -1;
}
