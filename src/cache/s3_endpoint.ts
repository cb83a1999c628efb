/**
 * Where an S3 object lives, in the URL forms the official runner's S3 client
 * uses: a custom `ServerAddress` (path style unless told otherwise), or AWS
 * with `BucketLocation`, `DualStack`, `Accelerate` and virtual-host or path
 * style. Pure: also used to grant the executor process its network access.
 */
import type { S3CacheConfig } from "../config/runner_config.ts";
import { type CacheSettingsProblem, dotSegmentProblem, isDotSegment } from "./cache_settings.ts";

export const DEFAULT_S3_REGION = "us-east-1";

/** The region requests are signed for. */
export function s3Region(s3: S3CacheConfig): string {
  return s3.bucketLocation || DEFAULT_S3_REGION;
}

/** Whether requests name the bucket in the path (`host/bucket/key`) rather than the host. */
export function isS3PathStyle(s3: S3CacheConfig): boolean {
  if (s3.pathStyle !== null) return s3.pathStyle;
  // Virtual-host names cannot hold a bucket with dots under TLS (the
  // certificate covers one label), and S3-compatible servers (radosgw,
  // MinIO) are usually reached by address: both get path style, as the
  // official runner's client detects (minio-go's IsVirtualHostSupported).
  const isDottedUnderTls = s3.bucketName.includes(".") && !s3.insecure;
  const address = customServerAddress(s3);
  if (address !== "") return !isAwsHost(address) || isDottedUnderTls;
  return isDottedUnderTls;
}

/**
 * `ServerAddress`, or "" for AWS's global endpoint over HTTPS: the official
 * runner takes "s3.amazonaws.com" as no ServerAddress (old docs wrote it),
 * so BucketLocation, DualStack and Accelerate choose the host.
 */
function customServerAddress(s3: S3CacheConfig): string {
  return !s3.insecure && /^s3\.amazonaws\.com(:443)?$/i.test(s3.serverAddress)
    ? ""
    : s3.serverAddress;
}

/** Whether `ServerAddress` names a server of its own (not empty, not AWS's global endpoint). */
export function hasCustomServerAddress(s3: S3CacheConfig): boolean {
  return customServerAddress(s3) !== "";
}

function isAwsHost(address: string): boolean {
  const host = address.replace(/:\d+$/, "").toLowerCase();
  return /(^|\.)amazonaws\.com(\.cn)?$/.test(host);
}

/** `scheme://host[:port]` of the service, without the bucket. */
function serviceOrigin(s3: S3CacheConfig): string {
  const scheme = s3.insecure ? "http" : "https";
  const address = customServerAddress(s3);
  if (address !== "") return `${scheme}://${address}`;
  const region = s3Region(s3);
  // DualStack and Accelerate only exist on AWS (ignored with another ServerAddress).
  if (s3.accelerate) {
    return `${scheme}://s3-accelerate${s3.dualStack ? ".dualstack" : ""}.amazonaws.com`;
  }
  // The China regions are a partition of their own, under amazonaws.com.cn.
  const domain = region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
  return `${scheme}://s3${s3.dualStack ? ".dualstack" : ""}.${region}.${domain}`;
}

/** Encodes an object name as S3 expects in a path: RFC 3986, `/` kept. */
function encodeObjectName(name: string): string {
  return name.split("/").map((segment) =>
    encodeURIComponent(segment).replace(
      /[!'()*]/g,
      (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
    )
  ).join("/");
}

/** The URL of `objectName` (before signing). Throws a RangeError naming the key for a config no URL can be made from. */
export function s3ObjectUrl(s3: S3CacheConfig, objectName: string): URL {
  const problem = s3EndpointProblem(s3);
  if (problem !== null) throw new RangeError(problem.message);
  const origin = new URL(serviceOrigin(s3));
  const path = encodeObjectName(objectName);
  if (isBucketInPath(s3)) {
    return new URL(`${origin.origin}/${encodeURIComponent(s3.bucketName)}/${path}`);
  }
  return new URL(`${origin.protocol}//${s3.bucketName}.${origin.host}/${path}`);
}

function isBucketInPath(s3: S3CacheConfig): boolean {
  // Acceleration has its own host (virtual-host only); a server of one's own ignores it.
  const isAccelerated = s3.accelerate && !hasCustomServerAddress(s3);
  return isS3PathStyle(s3) && !isAccelerated;
}

/**
 * The first setting of `s3` no URL can be made from, naming the key, else
 * null: no BucketName; a ServerAddress that is not `host[:port]` (the
 * official runner's form: a scheme or path made a URL to a host named
 * "https"); a BucketName with characters no bucket name has or that a URL
 * resolves as a path step ("." or ".."); a BucketLocation that is not a
 * region name (it goes into the host name); PathStyle = false with an IP
 * address. Config loading names it once, at load and in lint; each transfer
 * again.
 */
export function s3EndpointProblem(s3: S3CacheConfig): CacheSettingsProblem | null {
  const problem = (key: string, message: string) => ({
    key,
    message: `[runners.cache.s3] ${key} ${message}`,
  });
  if (s3.bucketName === "") return problem("BucketName", "is empty: name the bucket to use");
  const address = s3.serverAddress;
  if (address !== "") {
    const notHostPort = (detail: string) =>
      problem(
        "ServerAddress",
        `${JSON.stringify(address)} is not host[:port]${detail ? `: ${detail}` : ""}`,
      );
    const scheme = /^[a-z][a-z0-9+.-]*:\/\/(.*)$/i.exec(address);
    if (scheme) {
      return notHostPort(
        `write ${JSON.stringify(scheme[1]!.replace(/\/+$/, ""))} (Insecure = true selects http)`,
      );
    }
    const parts = /^(\[[0-9a-f:.]+\]|[a-z0-9._-]+)(?::(\d+))?(\/.*)?$/i.exec(address);
    if (!parts) return notHostPort("");
    if (parts[3] !== undefined) return notHostPort("a path is not allowed");
    if (parts[2] !== undefined && Number(parts[2]) > 65535) {
      return notHostPort(`port ${parts[2]} is out of range 0-65535`);
    }
  }
  if (!/^[a-z0-9._-]+$/i.test(s3.bucketName)) {
    return problem(
      "BucketName",
      `${
        JSON.stringify(s3.bucketName)
      } is not a bucket name: letters, digits, ".", "-" and "_" only`,
    );
  }
  if (isDotSegment(s3.bucketName)) return problem("BucketName", dotSegmentProblem(s3.bucketName));
  if (s3.bucketLocation !== "" && !/^[a-z0-9_-]+$/i.test(s3.bucketLocation)) {
    return problem(
      "BucketLocation",
      `${
        JSON.stringify(s3.bucketLocation)
      } is not a region name: letters, digits, "-" and "_" only`,
    );
  }
  // "bucket.127.0.0.1" is no host name: the URL parser refused it ("Invalid URL").
  if (!isBucketInPath(s3) && /^\[.*\]$|^[\d.]+$/.test(new URL(serviceOrigin(s3)).hostname)) {
    return {
      key: "PathStyle",
      message: `[runners.cache.s3] PathStyle = false does not work with ServerAddress ${
        JSON.stringify(s3.serverAddress)
      }: an IP address cannot take the bucket as a subdomain (remove PathStyle)`,
    };
  }
  return null;
}

/** `host:port` the executor process connects to for this cache. */
export function s3HostPort(s3: S3CacheConfig): string {
  const url = s3ObjectUrl(s3, "x");
  return `${url.hostname}:${url.port || (url.protocol === "https:" ? "443" : "80")}`;
}

/**
 * Where AssumeRole goes for `RoleARN`: the `ServerAddress` itself for an
 * S3-compatible server (radosgw and MinIO answer STS on their S3 endpoint),
 * else AWS's regional STS endpoint, as the AWS SDK resolves it.
 */
export function s3StsUrl(s3: S3CacheConfig): string {
  const scheme = s3.insecure ? "http" : "https";
  if (s3.serverAddress !== "" && !isAwsHost(s3.serverAddress)) {
    return `${scheme}://${s3.serverAddress}/`;
  }
  const region = s3Region(s3);
  return `https://sts.${region}.amazonaws.com${region.startsWith("cn-") ? ".cn" : ""}/`;
}

/** `host:port` of the STS endpoint (the poller's grant). */
export function s3StsHostPort(s3: S3CacheConfig): string {
  const url = new URL(s3StsUrl(s3));
  return `${url.hostname}:${url.port || (url.protocol === "https:" ? "443" : "80")}`;
}

/** The AWS partition of the bucket's ARNs, from the region. */
export function s3Partition(s3: S3CacheConfig): string {
  const region = s3Region(s3);
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  if (region.startsWith("cn-")) return "aws-cn";
  return "aws";
}
