/**
 * `join`, `resolve`, `normalize`, `relative`, `isAbsolute`, `dirname`,
 * `basename` and `SEP` for paths of this host, and the path of a `file:` URL, with node:path's (node:url's) results,
 * for the modules an executor process, `runner exec` and an idle `runner run`
 * (both of its threads) load before a job can start. Importing any `node:` module costs a Deno process its
 * Node compatibility layer, about 35 ms of CPU at start-up (the executor
 * process's start: 230 -> 190 ms of CPU without it, measured alternately),
 * and an executor process starts for every job. POSIX paths are handled here;
 * on Windows node:path does the work, loaded at once.
 */
const windowsPath = Deno.build.os === "windows" ? await import("node:path") : null;
const windowsUrl = Deno.build.os === "windows" ? await import("node:url") : null;

const SLASH = 47; // "/"
const DOT = 46; // "."

/** node:path's posix normalizeString: resolves "." and ".." segments, drops repeated slashes. */
function normalizeSegments(path: string, isAboveRootAllowed: boolean): string {
  let res = "";
  let lastSegmentLength = 0;
  let lastSlash = -1;
  let dots = 0;
  let code = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i < path.length) code = path.charCodeAt(i);
    else if (code === SLASH) break;
    else code = SLASH;
    if (code === SLASH) {
      if (lastSlash === i - 1 || dots === 1) {
        // An empty or "." segment.
      } else if (dots === 2) {
        if (
          res.length < 2 || lastSegmentLength !== 2 ||
          res.charCodeAt(res.length - 1) !== DOT || res.charCodeAt(res.length - 2) !== DOT
        ) {
          if (res.length > 2) {
            const at = res.lastIndexOf("/");
            if (at === -1) {
              res = "";
              lastSegmentLength = 0;
            } else {
              res = res.slice(0, at);
              lastSegmentLength = res.length - 1 - res.lastIndexOf("/");
            }
            lastSlash = i;
            dots = 0;
            continue;
          } else if (res.length !== 0) {
            res = "";
            lastSegmentLength = 0;
            lastSlash = i;
            dots = 0;
            continue;
          }
        }
        if (isAboveRootAllowed) {
          res += res.length > 0 ? "/.." : "..";
          lastSegmentLength = 2;
        }
      } else {
        const segment = path.slice(lastSlash + 1, i);
        res = res.length > 0 ? `${res}/${segment}` : segment;
        lastSegmentLength = i - lastSlash - 1;
      }
      lastSlash = i;
      dots = 0;
    } else if (code === DOT && dots !== -1) {
      dots++;
    } else {
      dots = -1;
    }
  }
  return res;
}

/** The separator of this host's paths, node:path's `sep`. */
export const SEP = Deno.build.os === "windows" ? "\\" : "/";

export function normalize(path: string): string {
  if (windowsPath) return windowsPath.normalize(path);
  return normalizePosix(path);
}

/** `path` normalized as a POSIX path whatever the host (a container's paths). */
export function normalizePosix(path: string): string {
  if (path.length === 0) return ".";
  const isAbs = path.charCodeAt(0) === SLASH;
  const hasTrailingSlash = path.charCodeAt(path.length - 1) === SLASH;
  let out = normalizeSegments(path, !isAbs);
  if (out.length === 0) {
    if (isAbs) return "/";
    return hasTrailingSlash ? "./" : ".";
  }
  if (hasTrailingSlash) out += "/";
  return isAbs ? `/${out}` : out;
}

export function isAbsolute(path: string): boolean {
  if (windowsPath) return windowsPath.isAbsolute(path);
  return path.length > 0 && path.charCodeAt(0) === SLASH;
}

export function join(...paths: string[]): string {
  if (windowsPath) return windowsPath.join(...paths);
  return joinPosix(...paths);
}

/** node:path's `posix.join` on every host (object names, URL paths). */
export function joinPosix(...paths: string[]): string {
  const joined = paths.filter((p) => p.length > 0).join("/");
  return joined === "" ? "." : normalizePosix(joined);
}

export function resolve(...paths: string[]): string {
  if (windowsPath) return windowsPath.resolve(...paths);
  let resolved = "";
  let isResolvedAbsolute = false;
  for (let i = paths.length - 1; i >= -1 && !isResolvedAbsolute; i--) {
    const path = i >= 0 ? paths[i]! : Deno.cwd();
    if (path.length === 0) continue;
    resolved = `${path}/${resolved}`;
    isResolvedAbsolute = path.charCodeAt(0) === SLASH;
  }
  resolved = normalizeSegments(resolved, !isResolvedAbsolute);
  if (isResolvedAbsolute) return `/${resolved}`;
  return resolved.length > 0 ? resolved : ".";
}

/** The path from `from` to `to`, both resolved first; "" when they are the same. */
export function relative(from: string, to: string): string {
  if (windowsPath) return windowsPath.relative(from, to);
  if (from === to) return "";
  from = resolve(from);
  to = resolve(to);
  if (from === to) return "";
  // Both start with "/"; compare what follows it.
  const fromLength = from.length - 1;
  const toLength = to.length - 1;
  const common = Math.min(fromLength, toLength);
  let lastCommonSlash = -1;
  let i = 0;
  for (; i < common; i++) {
    const code = from.charCodeAt(1 + i);
    if (code !== to.charCodeAt(1 + i)) break;
    if (code === SLASH) lastCommonSlash = i;
  }
  if (i === common) {
    if (toLength > common) {
      // `from` is a directory above `to`, or the root.
      if (to.charCodeAt(1 + i) === SLASH) return to.slice(2 + i);
      if (i === 0) return to.slice(1);
    } else if (fromLength > common) {
      // `to` is a directory above `from`, or the root.
      if (from.charCodeAt(1 + i) === SLASH) lastCommonSlash = i;
      else if (i === 0) lastCommonSlash = 0;
    }
  }
  let up = "";
  for (let at = 2 + lastCommonSlash; at <= from.length; at++) {
    if (at === from.length || from.charCodeAt(at) === SLASH) up += up.length === 0 ? ".." : "/..";
  }
  return `${up}${to.slice(1 + lastCommonSlash)}`;
}

export function dirname(path: string): string {
  if (windowsPath) return windowsPath.dirname(path);
  if (path.length === 0) return ".";
  const hasRoot = path.charCodeAt(0) === SLASH;
  let end = -1;
  let isTrailingSlash = true;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path.charCodeAt(i) === SLASH) {
      if (!isTrailingSlash) {
        end = i;
        break;
      }
    } else isTrailingSlash = false;
  }
  if (end === -1) return hasRoot ? "/" : ".";
  if (hasRoot && end === 1) return "//";
  return path.slice(0, end);
}

export function basename(path: string): string {
  if (windowsPath) return windowsPath.basename(path);
  let start = 0;
  let end = -1;
  for (let i = path.length - 1; i >= 0; i--) {
    if (path.charCodeAt(i) === SLASH) {
      if (end !== -1) {
        start = i + 1;
        break;
      }
    } else if (end === -1) end = i + 1;
  }
  return end === -1 ? "" : path.slice(start, end);
}

/** node:url's `fileURLToPath`. */
export function fromFileUrl(url: URL | string): string {
  if (windowsUrl) return windowsUrl.fileURLToPath(url);
  const u = new URL(url);
  if (u.protocol !== "file:") throw new TypeError(`Not a file URL: ${u.href}`);
  if (u.hostname !== "") {
    throw new TypeError(`A file URL with a host is not a local path: ${u.href}`);
  }
  if (/%2f/i.test(u.pathname)) {
    throw new TypeError(`A file URL path must not hold an encoded "/": ${u.href}`);
  }
  return decodeURIComponent(u.pathname);
}
