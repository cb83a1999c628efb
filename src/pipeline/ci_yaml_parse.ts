import type { CiEntry, CiMap } from "./ci_node.ts";

/**
 * Parses one CI YAML file into located nodes (`parseCiYaml`, with the
 * including `inputs:` or null): the seam through which `loadPipeline` reads
 * every file, so that a cache (`CiYamlParseCache`) can stand in front of it.
 */
export type CiYamlParse = (text: string, file: string, inputs: CiEntry | null) => Promise<CiMap>;

/**
 * `parseCiYaml`, its module loaded at the first call: npm:yaml is CommonJS,
 * and loading it (with Deno's Node compatibility) costs 100 ms and more of
 * CPU, which a pipeline answered from the cache does not pay. A literal
 * specifier, so that `deno compile` embeds the module.
 */
export async function parseCiYamlLazily(
  text: string,
  file: string,
  inputs: CiEntry | null,
): Promise<CiMap> {
  const { parseCiYaml } = await import("./yaml_loader.ts");
  return parseCiYaml(text, file, inputs);
}
