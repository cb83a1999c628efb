/**
 * A GitLab API call did not succeed. `status` is the HTTP status, or 0 when
 * no usable answer arrived (network error, wrong content type, bad JSON).
 * Callers branch on `status` (e.g. 403 on verify means the runner is gone).
 */
export class GitLabApiError extends Error {
  override readonly name = "GitLabApiError";
  constructor(
    readonly endpoint: string,
    readonly status: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  get isForbidden(): boolean {
    return this.status === 403;
  }
}

/**
 * GitLab's `{"message": ...}` error body as one line: a string as is, an
 * object of arrays flattened to `key value, key value`. "" when absent.
 */
export function errorMessageOf(body: unknown): string {
  if (typeof body !== "object" || body === null) return "";
  const message = (body as Record<string, unknown>)["message"];
  if (typeof message === "string") return message;
  if (typeof message === "object" && message !== null) {
    return Object.entries(message as Record<string, unknown>)
      .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(", ") : String(v)}`)
      .join(", ");
  }
  return "";
}

/** The MIME type of a Content-Type header without parameters, lowercased. */
export function mimeType(contentType: string | null): string {
  return (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

export type JsonBody = { ok: true; value: unknown } | { ok: false; reason: string };

/**
 * Reads a response body that must be JSON (spec §0.3): the MIME type must be
 * `application/json` and the text must parse. Never throws for bad content;
 * network errors while reading do reject.
 */
export async function readJsonBody(response: Response): Promise<JsonBody> {
  const type = mimeType(response.headers.get("Content-Type"));
  if (type !== "application/json") {
    await response.body?.cancel();
    return {
      ok: false,
      reason: `expected Content-Type "application/json", got "${type || "none"}"`,
    };
  }
  const text = await response.text();
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, reason: `body is not valid JSON: ${JSON.stringify(text.slice(0, 80))}` };
  }
}

/** A short description of a non-success answer for error messages. */
export async function describeFailure(response: Response): Promise<string> {
  const type = mimeType(response.headers.get("Content-Type"));
  let detail = "";
  if (type === "application/json") {
    try {
      detail = errorMessageOf(JSON.parse(await response.text()));
    } catch {
      detail = "";
    }
  } else if (type === "application/xml" || type === "text/xml") {
    // Object storage (S3, GCS, MinIO): <Error><Code>…</Code><Message>…</Message></Error>.
    const text = await response.text().catch(() => "");
    const element = (name: string) =>
      new RegExp(`<${name}>([^<]*)</${name}>`).exec(text)?.[1]?.trim() ?? "";
    const message = element("Message");
    const code = element("Code");
    detail = message && code ? `${message} (${code})` : message || code;
  } else {
    await response.body?.cancel();
  }
  const text = `${response.status} ${response.statusText}`.trim();
  return detail ? `${text}: ${detail}` : text;
}
