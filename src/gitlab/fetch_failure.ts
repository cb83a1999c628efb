/**
 * Why a request to GitLab got no answer, in words that name what to fix.
 * Deno's fetch rejects with a bare "fetch failed" and keeps the reason in its
 * cause: "error sending request for url (<url>): client error (Connect):
 * invalid peer certificate: UnknownIssuer". The URL is left out (a download
 * redirected to object storage carries a signature in it) and the host named
 * instead; a certificate that cannot be verified names `tls-ca-file`; a proxy
 * variable set for the URL's scheme is named with its value (without
 * credentials), since a proxy that refuses reads like GitLab refusing.
 */
export interface FetchFailureContext {
  url: URL;
  /** The configured `tls-ca-file` ("" or absent: none). */
  caFile?: string;
  /** The client certificate offered (`tls-cert-file`, with its key); "" or absent: none. */
  certFile?: string;
  /** The process environment; absent: proxies are not looked at. */
  env?: (name: string) => string | undefined;
}

export function fetchFailureReason(error: unknown, context: FetchFailureContext): string {
  const { url } = context;
  const messages: string[] = [];
  for (let e: unknown = error; e instanceof Error && messages.length < 8; e = e.cause) {
    if (e.message !== "") messages.push(e.message);
  }
  if (messages.length === 0) return String(error);
  // The innermost message holds the others' (Deno's cause chain wraps hyper's words).
  let detail = messages.at(-1)!
    // "for url (<url>)", or "from <local address> for <url> (<address>)" once connected.
    .replace(/^error sending request (?:from \S+ )?for (?:url \(\S+\)|\S+ \(\S+\))(?:: )?/, "")
    // rustls points at its manual for an unexpected EOF.
    .replace(/: https:\/\/docs\.rs\/\S*$/, "")
    // Any URL left keeps no query (a signature) or user info.
    .replace(/https?:\/\/[^\s)]+/g, withoutQuery);
  if (detail === "") detail = messages[0]!;
  const proxy = context.env ? proxyInEffect(url, context.env) : null;
  const via = proxy ? ` through ${proxy}` : "";
  const connect = "client error (Connect): ";
  detail = detail.startsWith(connect)
    ? `cannot connect to ${url.host}${via}: ${detail.slice(connect.length)}`
    : `${url.host}${via}: ${detail}`;
  const hints: string[] = [];
  if (url.protocol === "https:" && /\bcertificate\b/i.test(detail)) {
    hints.push(certificateHint(detail, url.hostname, context.caFile ?? ""));
  } else if (url.protocol === "https:" && /close_notify|CertificateRequired/i.test(detail)) {
    // What a GitLab that requires a client certificate does to a client without its one.
    hints.push(
      context.certFile
        ? `GitLab may not accept the client certificate in tls-cert-file "${context.certFile}"`
        : "GitLab may require a client certificate: tls-cert-file and tls-key-file are not set",
    );
  }
  return hints.length === 0 ? detail : `${detail} (${hints.join("; ")})`;
}

function certificateHint(detail: string, host: string, caFile: string): string {
  if (/UnknownIssuer|BadSignature|UnknownCA|self.signed/i.test(detail)) {
    return caFile === ""
      ? "no CA in the system roots signed GitLab's certificate: set tls-ca-file to the PEM file of its CA"
      : `no CA in tls-ca-file "${caFile}" or the system roots signed GitLab's certificate`;
  }
  if (/not valid for name|NotValidForName/i.test(detail)) {
    return `GitLab's certificate does not name "${host}": the url must use a name it holds`;
  }
  return caFile === "" ? "tls-ca-file is not set" : `tls-ca-file is "${caFile}"`;
}

/**
 * The proxy variable set for `url`'s scheme, unless NO_PROXY names its host:
 * `HTTPS_PROXY "http://proxy:3128"`. Deno reads the upper case name first.
 */
function proxyInEffect(url: URL, env: (name: string) => string | undefined): string | null {
  const scheme = url.protocol === "https:" ? "HTTPS_PROXY" : "HTTP_PROXY";
  const name = [scheme, scheme.toLowerCase(), "ALL_PROXY", "all_proxy"]
    .find((n) => (env(n) ?? "") !== "");
  if (!name) return null;
  const noProxy = env("NO_PROXY") || env("no_proxy") || "";
  if (bypassed(url.hostname, noProxy)) return null;
  return `${name} "${withoutCredentials(env(name)!)}"`;
}

/** Whether NO_PROXY names `host`: "*", the host, a domain it is in or an IPv4 range. */
function bypassed(host: string, noProxy: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return noProxy.split(",").map((s) => s.trim().toLowerCase()).some((entry) => {
    if (entry === "*") return true;
    if (entry.includes("/")) return inRange(h, entry);
    const name = entry.replace(/^\*?\./, "").replace(/:\d+$/, "");
    return name !== "" && (h === name || h.endsWith(`.${name}`));
  });
}

function inRange(host: string, cidr: string): boolean {
  const [base, bits] = cidr.split("/");
  const a = ipv4(host);
  const b = ipv4(base ?? "");
  const n = Number(bits);
  if (a === null || b === null || !Number.isInteger(n) || n < 0 || n > 32) return false;
  const mask = n === 0 ? 0 : (~0 << (32 - n)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

function ipv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) < 256)) {
    return null;
  }
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

function withoutQuery(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url.replace(/[?#].*$/, "").replace(/\/\/[^@/]*@/, "//");
  }
}

function withoutCredentials(proxy: string): string {
  try {
    const u = new URL(proxy.includes("://") ? proxy : `http://${proxy}`);
    u.username = "";
    u.password = "";
    return u.href.replace(/\/$/, "");
  } catch {
    return proxy.replace(/\/\/[^@/]*@/, "//");
  }
}
