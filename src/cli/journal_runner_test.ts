import assert from "node:assert/strict";
import { defaultRunnerConfig } from "../config/default_config.ts";
import type { GlobalConfig, RunnerConfig } from "../config/runner_config.ts";
import type { JournalJob } from "../journal/mod.ts";
import { journalRunner } from "./journal_runner.ts";

function entry(url: string, token: string, tlsCaFile: string): RunnerConfig {
  return { ...defaultRunnerConfig("shell"), url, token, tlsCaFile };
}

function job(url: string, runner: string): JournalJob {
  return { jobId: 7, url, runner, jobToken: "glcbt-7", isStarted: true, takenAt: "" };
}

const GITLAB = "https://gitlab.internal";

Deno.test("a journaled job is reported through the entry that took it", () => {
  const took = entry(GITLAB, "glrt-t1_abcdefghijklmnop", "/etc/ca-a.pem");
  const other = entry(GITLAB, "glrt-t1_zyxwvutsrqponmlk", "/etc/ca-b.pem");
  const config = { runners: [other, took] } as unknown as GlobalConfig;
  assert.equal(journalRunner(config, job(GITLAB, "abcdefghi"), null), took);
});

Deno.test("a journaled job whose entry's token rotated since is reported with that GitLab's TLS files", () => {
  const rotated = entry(GITLAB, "glrt-t1_newtokenvaluexyz", "/etc/gitlab-ca.pem");
  const config = { runners: [rotated] } as unknown as GlobalConfig;
  const bare = defaultRunnerConfig();
  const chosen = journalRunner(config, job(GITLAB, "oldshortt"), bare);
  assert.equal(chosen.tlsCaFile, "/etc/gitlab-ca.pem");
  assert.equal(chosen.url, GITLAB);
});

Deno.test("a journaled job of a GitLab no entry names any more goes through a bare entry with its URL", () => {
  const config = {
    runners: [entry("https://other", "glrt-t1_abcdefghijklmnop", "")],
  } as unknown as GlobalConfig;
  const chosen = journalRunner(config, job(GITLAB, "abcdefghi"), defaultRunnerConfig());
  assert.equal(chosen.url, GITLAB);
  assert.equal(chosen.tlsCaFile, "");
});
