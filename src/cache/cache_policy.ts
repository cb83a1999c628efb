/** `cache:policy` (§10.3): which of restore (pull) and save (push) run. */
export interface CachePolicy {
  pull: boolean;
  push: boolean;
}

/** Throws a `TypeError` naming the value when it is not a policy GitLab knows. */
export function parseCachePolicy(value: string): CachePolicy {
  switch (value) {
    case "":
    case "pull-push":
      return { pull: true, push: true };
    case "pull":
      return { pull: true, push: false };
    case "push":
      return { pull: false, push: true };
    default:
      throw new TypeError(`unknown cache policy ${JSON.stringify(value)}`);
  }
}
