/**
 * Stamped by scripts/compile.ts before `deno compile`; from source the
 * revision is read from git at run time when it can be.
 */
export const BUILD_INFO = {
  revision: "",
  branch: "",
  builtAt: "",
};
