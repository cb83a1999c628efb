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
import { ignoredProxyVariable, proxyFor, withoutCredentials } from "../os/http_proxy.ts";

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
  const proxy = context.env ? proxyFor(url, context.env) : null;
  const via = proxy ? ` through ${proxy.name} "${withoutCredentials(proxy.url)}"` : "";
  const connect = "client error (Connect): ";
  detail = detail.startsWith(connect)
    ? `cannot connect to ${url.host}${via}: ${detail.slice(connect.length)}`
    : `${url.host}${via}: ${detail}`;
  const hints: string[] = [];
  const certificate = url.protocol === "https:" && /\bcertificate\b/i.test(detail)
    ? certificateHint(detail, url.hostname, context.caFile ?? "")
    : null;
  if (certificate) {
    hints.push(certificate);
  } else if (url.protocol === "https:" && /close_notify|CertificateRequired/i.test(detail)) {
    // What a GitLab that requires a client certificate does to a client without its one.
    hints.push(
      context.certFile
        ? `GitLab may not accept the client certificate in tls-cert-file "${context.certFile}"`
        : "GitLab may require a client certificate: tls-cert-file and tls-key-file are not set",
    );
  }
  const ignored = context.env ? ignoredProxyVariable(url, context.env) : null;
  if (ignored) hints.push(`${ignored} is set but is no proxy address: the request went directly`);
  return hints.length === 0 ? detail : `${detail} (${hints.join("; ")})`;
}

function certificateHint(detail: string, host: string, caFile: string): string | null {
  if (/UnknownIssuer|BadSignature|UnknownCA|self.signed/i.test(detail)) {
    return caFile === ""
      ? "no CA in the system roots signed GitLab's certificate: set tls-ca-file to the PEM file of its CA"
      : `no CA in tls-ca-file "${caFile}" or the system roots signed GitLab's certificate`;
  }
  if (/not valid for name|NotValidForName/i.test(detail)) {
    return `GitLab's certificate does not name "${host}": the url must use a name it holds`;
  }
  if (/expired|not valid (before|after)|NotValidYet/i.test(detail)) {
    return "GitLab's certificate is outside its validity dates: renew it, or check this host's clock";
  }
  return null;
}

function withoutQuery(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url.replace(/[?#].*$/, "").replace(/\/\/[^@/]*@/, "//");
  }
}
