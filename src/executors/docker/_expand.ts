/** `$VAR`, `${VAR}` and `$$` in image names, as the official runner expands them. Pure. */
export function expandImageName(
  text: string,
  lookup: (name: string) => string | undefined,
): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced?: string, bare?: string) => {
      if (match === "$$") return "$";
      return lookup(braced ?? bare ?? "") ?? "";
    },
  );
}
