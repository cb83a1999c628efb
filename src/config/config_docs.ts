/**
 * docs/configuration.md, generated from the schema so the reference cannot
 * drift: `deno eval 'import {renderConfigDocs} from "./src/config/config_docs.ts";
 * Deno.writeTextFileSync("docs/configuration.md", renderConfigDocs())'`.
 * config_docs_test.ts fails when the file and the schema disagree.
 */
import { CONFIG_KEYS, CONFIG_SECTIONS, type KeySpec, type SectionSpec } from "./schema.ts";

const INTRO = `# config.toml reference

Runner reads the same \`config.toml\` as the official GitLab Runner. This page lists
every key we know, generated from \`src/config/schema.ts\`.

## How the file is read

- **Location**: \`-c/--config\` or \`CONFIG_FILE\`; otherwise \`/etc/gitlab-runner/config.toml\`
  for root, \`~/.gitlab-runner/config.toml\` for other users, \`config.toml\` in the working
  directory on Windows. A missing file is an empty configuration for \`run\` and
  \`register\`, and an error for \`lint\`.
- **Encoding**: UTF-8, as TOML requires; a UTF-8 byte order mark and CRLF line ends are
  accepted. A byte that is not UTF-8 (a file saved as Latin-1 or UTF-16) is a load
  error naming its line and column.
- **Spelling**: keys are matched exactly as listed (snake_case, CamelCase in
  \`[runners.cache]\` and \`[runners.machine]\`, hyphens in \`tls-ca-file\`,
  \`tls-cert-file\`, \`tls-key-file\`). A key that matches only when ignoring case is
  used, with a warning asking for the official spelling.
- **Unknown keys** are ignored with a warning (\`lint\` reports them as errors) and
  kept when the runner rewrites the file.
- **Every official key is accounted for**: \`src/config/official_keys.json\` lists the keys
  of the official runner (version and commit inside, extracted from its Go sources by
  \`scripts/official_config_keys.ts\`); a test requires each to be supported here or to
  give a warning naming it, both when the runner loads the file and in \`runner lint\`.
- **Accepted but not supported**: keys marked "no" in the *Supported* column (and
  whole sections such as \`[runners.kubernetes]\`) never stop the runner from
  loading. Each one present in the file gives one warning per load:
  \`key X is accepted but not supported\`. Their values are kept when the runner
  rewrites the file.
- **Another executor's section**: a key of \`[runners.ssh]\`, \`[runners.docker]\` or
  \`[runners.custom]\` on a runner whose executor does not read that section (a
  block copied from another runner, an executor line changed) gives one warning
  per section, naming its main key (\`host\`, \`image\`, \`run_exec\`) or else its
  first: \`key runners[0].docker.image is not used: [runners.docker] is read by
  the docker and docker+ssh executors, not by "shell"\`.
- **Types**: \`int-seconds\` is a plain integer of seconds; \`duration\` is a Go
  duration string such as \`"90s"\`, \`"15m"\`, \`"1h30m"\` or \`"500ms"\` (an integer is read
  as nanoseconds, as the official runner does; one below a millisecond, such as
  \`prepare_timeout = 300\`, loads with a warning). Integers take Go's int64 range, as in the
  official runner: one outside -9223372036854775808 to 9223372036854775807, anywhere in the file,
  is a load error, and
  so is a float written for an integer key beyond ±9007199254740991 (such as \`1e99\`). An
  integer key beyond ±9007199254740991 (\`MaxUploadedArchiveSize = 9223372036854775807\`, no
  limit) is held as ±9007199254740991, the same in effect (a \`[[runners]] id\` that large loads
  with a warning), and saved as written. An integer beyond ±9007199254740991 for a float key
  (all in sections we do not act on), which the official decoder refuses, loads with a warning.
  \`pull_policy\` takes a string or an array of strings. \`datetime\` is a TOML date-time.
- **Values every job would refuse**: on a docker or docker+ssh runner, a \`[runners.docker]\`
  \`pull_policy\` or \`allowed_pull_policies\` entry other than \`always\`, \`if-not-present\`
  or \`never\` (or a \`pull_policy\`, \`always\` when unset, that \`allowed_pull_policies\`
  leaves out: jobs without their own policy fail), a \`memory\`, \`memory_swap\` or \`memory_reservation\` that is not a size
  (\`512m\`, \`2g\`; \`memory\` at least \`4m\`), a \`memory_swap\` without \`memory\` or below it, an \`oom_score_adjust\` outside -1000 to
  1000, a \`cpus\` that is not a number of at least
  0.01, a negative \`shm_size\` or \`cpu_shares\`, a \`userns_mode\` other than \`host\`, a \`devices\`, \`ulimit\`, \`gpus\` or \`tmpfs\` entry the executor cannot
  read, a \`dns\` entry that is not an IP address, and, on a docker runner only, a \`volumes\` entry the official parser
  refuses or a bad \`service_\` limit load with a warning naming the key, as
  each job fails naming it; \`lint\` reports them as errors.
- **Environment variables**: only \`[[runners]] url\` and \`token\` expand \`$VAR\` and
  \`\${VAR}\`. A trailing \`/ci\` on \`url\` is removed, with a warning.
- **Errors** name the file, the line and the key, for example
  \`/etc/gitlab-runner/config.toml:12: key runners[0].limit must be an integer, got "abc"\`.
  When a running runner sees an invalid edit, it logs the error once and keeps the
  last good configuration.
- **Reloading**: the runner watches the directory of \`config.toml\` (so editors that
  save by renaming, and Kubernetes ConfigMap updates, are seen), and that of the file it
  links to, followed when the link is pointed elsewhere. Every 3 s it also compares the
  file's inode, size and modification time, as the official runner checks its modification
  time, for changes no watch reports (the directory removed and made again, a file
  bind-mounted into a container and edited on the host, a network file system). It
  reloads on \`SIGHUP\`.

## How the file is written

\`register\`, \`unregister\`, \`verify --delete\`, \`reset-token\` and token rotation rewrite
the file like the official runner: the whole document is re-encoded (comments are
lost), with mode 0600 in a 0700 directory, atomically (temporary file and rename), and the
file keeps its owner (root running \`register\` leaves it to the runner's user).
\`register\`, \`unregister\`, \`verify --delete\` and \`reset-token\` keep a \`config.toml\`
that is a symlink: the file it leads to is rewritten, as the official runner's in-place
write does.
We write the keys the official runner always writes (\`concurrent\`,
\`check_interval\`, \`shutdown_timeout\`, each
runner's \`name\`, \`url\`, \`id\`, \`token\`, \`token_obtained_at\`, \`token_expires_at\`,
\`executor\`, \`[runners.cache] MaxUploadedArchiveSize\` and the basic \`[runners.docker]\`
keys for docker executors) plus every key whose value differs from its default.
A \`url\` or \`token\` written as \`$VAR\` stays \`$VAR\` while its value is unchanged.

The runner also keeps \`.runner_system_id\` beside \`config.toml\` (\`s_\` + 12 hex
characters derived from the machine ID, or \`r_\` + 12 random characters).
`;

function heading(section: SectionSpec): string {
  if (section.path === "") return "## Global keys";
  return section.kind === "array" ? `## \`[[${section.path}]]\`` : `## \`[${section.path}]\``;
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

function row(key: KeySpec): string {
  return `| \`${key.key}\` | ${key.type} | ${cell(key.defaultText)} | ${key.priority} | ${
    key.supported ? "yes" : "no"
  } | ${cell(key.description)} |`;
}

export function renderConfigDocs(): string {
  const out = [INTRO];
  for (const section of CONFIG_SECTIONS) {
    out.push(heading(section), "");
    const supported = section.supported ? "" : " Accepted but not supported.";
    out.push(`${section.description} Priority ${section.priority}.${supported}`, "");
    const keys = CONFIG_KEYS.filter((k) => k.section === section.path);
    if (section.kind === "opaque") {
      out.push("Accepted as a whole; its keys are not checked.", "");
      continue;
    }
    if (keys.length === 0) {
      out.push("Holds only the sections below.", "");
      continue;
    }
    out.push(
      "| Key | Type | Default | Priority | Supported | Meaning |",
      "|---|---|---|---|---|---|",
      ...keys.map(row),
      "",
    );
  }
  return out.join("\n");
}

/** "section.key" for every key row under a section heading of `markdown`. */
export function documentedKeys(markdown: string): Set<string> {
  const found = new Set<string>();
  let section: string | null = null;
  for (const line of markdown.split("\n")) {
    const head = /^## (?:(Global keys)|`\[\[?([A-Za-z0-9_.]+)\]\]?`)\s*$/.exec(line);
    if (head !== null) {
      section = head[1] !== undefined ? "" : head[2] ?? null;
      continue;
    }
    if (line.startsWith("## ")) section = null;
    const keyRow = /^\| `([^`]+)`\s*\|/.exec(line);
    if (keyRow !== null && section !== null) {
      found.add(section === "" ? keyRow[1] ?? "" : `${section}.${keyRow[1]}`);
    }
  }
  return found;
}
