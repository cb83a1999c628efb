/**
 * Expands `$VAR` and `${VAR}` in `text` (`$$` is a literal `$`); unknown
 * variables become empty, as in GitLab.
 */
export function expandVariables(
  text: string,
  lookup: (name: string) => string | undefined,
): string {
  return text.replace(/\$\$|\$\{(\w+)\}|\$(\w+)/g, (match, braced?: string, bare?: string) => {
    if (match === "$$") return "$";
    return lookup((braced ?? bare)!) ?? "";
  });
}
