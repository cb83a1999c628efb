import type { ArtifactFormat } from "../archive/archive_format.ts";

/**
 * The uploaded file's name (§6.1): base name of `artifacts[].name` ("" or
 * "." become `default`), plus `.zip` for zip, `.gz` for gzip, nothing for raw.
 */
export function artifactFileName(name: string, format: ArtifactFormat): string {
  const trimmed = name.replace(/\/+$/, "");
  let base = trimmed.slice(trimmed.lastIndexOf("/") + 1);
  if (base === "" || base === ".") base = "default";
  switch (format) {
    case "zip":
      return `${base}.zip`;
    case "gzip":
      return `${base}.gz`;
    case "raw":
      return base;
  }
}
