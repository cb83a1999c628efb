/**
 * Where the job's sources come from and how git authenticates
 * (spec/gitlab-runner-api.md §9.3). The remote kept in `.git/config` never
 * carries the job token; `insteadOf` rewrites in a config file outside the
 * work tree add it back while git talks to the server.
 */
import { parseCloneUrl } from "../config/clone_url.ts";

export interface GitRemote {
  /** The remote as stored in `.git/config`, without credentials. */
  remoteUrl: string;
  /** `[with credentials, without]` pairs, deduplicated, in order. */
  insteadOfs: Array<[string, string]>;
  /** `scheme://host[:port]` for `git credential reject`; null when not http(s)/ssh. */
  credentialHost: string | null;
}

export interface GitRemoteInput {
  /** `git_info.repo_url`, usually with `gitlab-ci-token:<token>@`. */
  repoUrl: string;
  /** Runner `clone_url`; "" when unset. */
  cloneUrl: string;
  /** Runner `url` (GitLab base URL). */
  serverUrl: string;
  /** CI_PROJECT_PATH. */
  projectPath: string;
  jobToken: string;
}

function tryUrl(text: string): URL | null {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(text)) return null;
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

function isHttp(u: URL): boolean {
  return u.protocol === "http:" || u.protocol === "https:";
}

function withAuth(u: URL, token: string): URL {
  const c = new URL(u.href);
  if (c.protocol === "ssh:") {
    if (c.username === "") c.username = "git";
  } else {
    c.username = "gitlab-ci-token";
    c.password = token;
  }
  return c;
}

function withoutAuth(u: URL): URL {
  const c = new URL(u.href);
  c.username = "";
  c.password = "";
  return c;
}

function trimmed(u: URL): string {
  return u.href.replace(/\/+$/, "");
}

function baseOf(u: URL): URL {
  const c = new URL(u.href);
  c.pathname = "";
  c.search = "";
  c.hash = "";
  return c;
}

/** Throws a `TypeError` naming the URL when `repo_url` cannot be used. */
export function resolveGitRemote(input: GitRemoteInput): GitRemote {
  // The caller refuses a clone_url that is not one (run_build.ts).
  const clone = input.cloneUrl === "" ? null : parseCloneUrl(input.cloneUrl);
  let authed: URL;
  if (clone !== null) {
    const u = new URL(clone.href);
    u.pathname = `${u.pathname.replace(/\/+$/, "")}/${input.projectPath}.git`;
    authed = withAuth(u, input.jobToken);
  } else {
    const repo = tryUrl(input.repoUrl);
    if (repo === null) {
      // Plain paths (`/srv/repo.git`) are local remotes without credentials.
      if (input.repoUrl === "") {
        throw new TypeError("The job has no repository URL (git_info.repo_url)");
      }
      return { remoteUrl: input.repoUrl, insteadOfs: [], credentialHost: null };
    }
    authed = repo;
  }

  const plain = withoutAuth(authed);
  const pairs: Array<[string, string]> = [];
  if (plain.href !== authed.href) pairs.push([authed.href, plain.href]);

  const base = clone ?? tryUrl(input.serverUrl);
  if (base !== null && isHttp(base)) {
    const b = withoutAuth(base);
    pairs.push([trimmed(withAuth(b, input.jobToken)), trimmed(b)]);
    const repo = tryUrl(input.repoUrl);
    if (repo !== null && isHttp(repo)) {
      const rb = withoutAuth(baseOf(repo));
      pairs.push([trimmed(withAuth(rb, input.jobToken)), trimmed(rb)]);
    }
  }

  const seen = new Set<string>();
  const insteadOfs = pairs.filter(([a, b]) => {
    const k = `${a}\n${b}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });

  const scheme = plain.protocol;
  const credentialHost = plain.host !== "" && (isHttp(plain) || scheme === "ssh:")
    ? `${scheme}//${plain.host}`
    : null;
  return { remoteUrl: plain.href, insteadOfs, credentialHost };
}

/**
 * `<namespace>/<project>` from the repository URL, without `.git`; null when
 * the URL has no host or a suspicious path (then `project-<id>` is used).
 */
export function projectPathFromRepoUrl(repoUrl: string): string | null {
  const u = tryUrl(repoUrl);
  if (u === null || u.host === "") return null;
  let slug = decodeURIComponent(u.pathname).replace(/\.git$/, "");
  slug = slug.replace(/\/+/g, "/").replace(/^\/|\/$/g, "");
  if (slug === "" || slug === "." || slug.includes("..")) return null;
  return slug;
}
