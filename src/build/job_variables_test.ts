import assert from "node:assert/strict";
import { expandValue } from "./job_variables.ts";
import { formatGoDuration, parseGoDuration } from "../time/go_duration.ts";
import { projectPathFromRepoUrl, resolveGitRemote } from "./git_remote.ts";
import { resolveFeatureFlags } from "./feature_flags.ts";
import { resolveBuildSettings } from "./build_settings.ts";

const vars: Record<string, string> = { A: "a", B_1: "b" };
const lookup = (k: string) => vars[k];

Deno.test("expandValue follows Go's os.Expand", () => {
  assert.equal(expandValue("$A-${B_1}", lookup), "a-b");
  assert.equal(expandValue("$$A", lookup), "$A");
  assert.equal(expandValue("cost: $ 5 and $", lookup), "cost: $ 5 and $");
  assert.equal(expandValue("$MISSING|${MISSING}|$1|$@", lookup), "|||");
  assert.equal(expandValue("x${}y${unterminated", lookup), "xyunterminated");
  assert.equal(expandValue("$A.txt ${A}b", lookup), "a.txt ab");
});

Deno.test("Go durations parse and print like Go", () => {
  assert.equal(parseGoDuration("10m"), 600_000);
  assert.equal(parseGoDuration("1h30m"), 5_400_000);
  assert.equal(parseGoDuration("1.5s"), 1500);
  assert.equal(parseGoDuration("250ms"), 250);
  assert.throws(() => parseGoDuration("10"), /Invalid duration "10"/);
  assert.equal(formatGoDuration(3_600_000), "1h0m0s");
  assert.equal(formatGoDuration(300_000), "5m0s");
  assert.equal(formatGoDuration(2000), "2s");
  assert.equal(formatGoDuration(1500), "1.5s");
  assert.equal(formatGoDuration(90_500), "1m30.5s");
  assert.equal(formatGoDuration(500), "500ms");
});

Deno.test("the remote loses its credentials and insteadOf rules bring them back", () => {
  const remote = resolveGitRemote({
    repoUrl: "https://gitlab-ci-token:tok@gitlab.example.com/acme/widget.git",
    cloneUrl: "",
    serverUrl: "https://gitlab.example.com/",
    projectPath: "acme/widget",
    jobToken: "tok",
  });
  assert.equal(remote.remoteUrl, "https://gitlab.example.com/acme/widget.git");
  assert.deepEqual(remote.insteadOfs, [
    [
      "https://gitlab-ci-token:tok@gitlab.example.com/acme/widget.git",
      "https://gitlab.example.com/acme/widget.git",
    ],
    ["https://gitlab-ci-token:tok@gitlab.example.com", "https://gitlab.example.com"],
  ]);
  assert.equal(remote.credentialHost, "https://gitlab.example.com");
});

Deno.test("clone_url replaces the host and path of the remote", () => {
  const remote = resolveGitRemote({
    repoUrl: "https://gitlab-ci-token:tok@gitlab.example.com/acme/widget.git",
    cloneUrl: "http://mirror.local:8080/git",
    serverUrl: "https://gitlab.example.com",
    projectPath: "acme/widget",
    jobToken: "tok",
  });
  assert.equal(remote.remoteUrl, "http://mirror.local:8080/git/acme/widget.git");
  assert.deepEqual(remote.insteadOfs[0], [
    "http://gitlab-ci-token:tok@mirror.local:8080/git/acme/widget.git",
    "http://mirror.local:8080/git/acme/widget.git",
  ]);
});

Deno.test("project paths come from the repository URL", () => {
  assert.equal(projectPathFromRepoUrl("https://t:x@h/group/sub/proj.git"), "group/sub/proj");
  assert.equal(projectPathFromRepoUrl("file:///srv/repo.git"), null);
  assert.equal(projectPathFromRepoUrl("https://h/a%2F..%2F..%2Fetc.git"), null);
});

Deno.test("feature flags: config beats job variables, which beat defaults", () => {
  const flags = resolveFeatureFlags(
    { "FF_SCRIPT_SECTIONS": false },
    (k) =>
      ({ FF_SCRIPT_SECTIONS: "true", FF_TIMESTAMPS: "false", FF_ENABLE_JOB_CLEANUP: "nonsense" })[
        k
      ],
  );
  assert.equal(flags["FF_SCRIPT_SECTIONS"], false);
  assert.equal(flags["FF_TIMESTAMPS"], false);
  assert.equal(flags["FF_ENABLE_JOB_CLEANUP"], false);
  assert.equal(flags["FF_USE_GIT_BUNDLE_URIS"], true);
});

Deno.test("build settings default from allow_git_fetch and warn about bad values", () => {
  const settings = resolveBuildSettings(
    (k) =>
      ({
        GIT_STRATEGY: "teleport",
        GIT_CLEAN_FLAGS: "none",
        RUNNER_SCRIPT_TIMEOUT: "3h",
        GET_SOURCES_ATTEMPTS: "11",
      })[k],
    { allowGitFetch: false, jobTimeoutMs: 3_600_000, debugTraceDisabled: false },
  );
  assert.equal(settings.gitStrategy, "clone");
  assert.deepEqual(settings.gitCleanFlags, []);
  assert.deepEqual(settings.gitFetchFlags, ["--prune", "--quiet"]);
  assert.equal(settings.scriptTimeoutMs, 3_600_000);
  assert.equal(settings.afterScriptTimeoutMs, 300_000);
  assert.equal(settings.getSourcesAttempts, 10);
  assert.equal(settings.warnings.length, 3);
});

Deno.test("stage attempts out of 1-10 are clamped with a warning naming the variable, as the official runner does", () => {
  const resolve = (vars: Record<string, string>) =>
    resolveBuildSettings((k) => vars[k], {
      allowGitFetch: true,
      jobTimeoutMs: 3_600_000,
      debugTraceDisabled: false,
    });
  const high = resolve({
    GET_SOURCES_ATTEMPTS: "11",
    RESTORE_CACHE_ATTEMPTS: "0",
    ARTIFACT_DOWNLOAD_ATTEMPTS: "-3",
  });
  assert.equal(high.getSourcesAttempts, 10);
  assert.equal(high.restoreCacheAttempts, 1);
  assert.equal(high.downloadArtifactsAttempts, 1);
  assert.deepEqual(high.warnings, [
    'GET_SOURCES_ATTEMPTS "11" is out of the range 1 to 10: using 10',
    'RESTORE_CACHE_ATTEMPTS "0" is out of the range 1 to 10: using 1',
    'ARTIFACT_DOWNLOAD_ATTEMPTS "-3" is out of the range 1 to 10: using 1',
  ]);
  const odd = resolve({
    GET_SOURCES_ATTEMPTS: "three",
    RESTORE_CACHE_ATTEMPTS: "1e1",
    // Past int64: Go's strconv.ParseInt fails, so the official runner uses the default.
    ARTIFACT_DOWNLOAD_ATTEMPTS: "99999999999999999999",
  });
  assert.equal(odd.getSourcesAttempts, 1);
  assert.equal(odd.restoreCacheAttempts, 1);
  assert.equal(odd.downloadArtifactsAttempts, 1);
  assert.deepEqual(odd.warnings, [
    'Invalid GET_SOURCES_ATTEMPTS "three": it must be a number from 1 to 10; using 1',
    'Invalid RESTORE_CACHE_ATTEMPTS "1e1": it must be a number from 1 to 10; using 1',
    'Invalid ARTIFACT_DOWNLOAD_ATTEMPTS "99999999999999999999": it must be a number from 1 to 10; using 1',
  ]);
  assert.equal(resolve({ GET_SOURCES_ATTEMPTS: "9223372036854775807" }).getSourcesAttempts, 10);
  const fine = resolve({ GET_SOURCES_ATTEMPTS: "4" });
  assert.equal(fine.getSourcesAttempts, 4);
  assert.deepEqual(fine.warnings, []);
});

Deno.test("official job variables this runner does not act on warn when they would change something", () => {
  const warnings = (vars: Record<string, string>) =>
    resolveBuildSettings((k) => vars[k], {
      allowGitFetch: true,
      jobTimeoutMs: 3_600_000,
      debugTraceDisabled: false,
    }).warnings;
  assert.deepEqual(
    warnings({
      GIT_SUBMODULE_PATHS: "libs/a",
      GIT_SUBMODULE_FORCE_HTTPS: "false",
      EXECUTOR_JOB_SECTION_ATTEMPTS: "1",
      CI_DEBUG_SERVICES: "false",
      CACHE_COMPRESSION_FORMAT: "zip",
      RUNNER_GENERATE_ARTIFACTS_METADATA: "false",
    }),
    [],
    "no submodules, or values that change nothing",
  );
  assert.deepEqual(
    warnings({
      GIT_SUBMODULE_STRATEGY: "recursive",
      GIT_SUBMODULE_PATHS: "libs/a",
      GIT_SUBMODULE_FORCE_HTTPS: "true",
      EXECUTOR_JOB_SECTION_ATTEMPTS: "3",
      CACHE_COMPRESSION_FORMAT: "tarzstd",
      RUNNER_GENERATE_ARTIFACTS_METADATA: "true",
    }),
    [
      "GIT_SUBMODULE_PATHS is not supported by this runner and has no effect: every submodule is updated",
      "GIT_SUBMODULE_FORCE_HTTPS is not supported by this runner and has no effect: submodule URLs are used as they are",
      "EXECUTOR_JOB_SECTION_ATTEMPTS is not supported by this runner and has no effect: a job section is run once",
      "CACHE_COMPRESSION_FORMAT is not supported by this runner and has no effect: caches are zip archives",
      "RUNNER_GENERATE_ARTIFACTS_METADATA is not supported by this runner and has no effect: artifacts carry no metadata (SLSA provenance) file",
    ],
  );
});

Deno.test("a boolean job variable that is not a Go boolean keeps its default with a warning, as the official runner does", () => {
  const resolve = (vars: Record<string, string>) =>
    resolveBuildSettings((k) => vars[k], {
      allowGitFetch: true,
      jobTimeoutMs: 3_600_000,
      debugTraceDisabled: false,
    });
  const odd = resolve({
    GIT_CHECKOUT: "2",
    AFTER_SCRIPT_IGNORE_ERRORS: "-1",
    CI_DEBUG_TRACE: "yes",
    CI_DEBUG_SERVICES: "yes",
    GIT_SUBMODULE_FORCE_HTTPS: "on",
  });
  assert.equal(odd.gitCheckout, true);
  assert.equal(odd.afterScriptIgnoreErrors, true);
  assert.equal(odd.debugTrace, false);
  assert.deepEqual(odd.warnings.toSorted(), [
    'Invalid AFTER_SCRIPT_IGNORE_ERRORS "-1": using "true"',
    'Invalid CI_DEBUG_SERVICES "yes": using "false"',
    'Invalid CI_DEBUG_TRACE "yes": using "false"',
    'Invalid GIT_CHECKOUT "2": using "true"',
    'Invalid GIT_SUBMODULE_FORCE_HTTPS "on": using "false"',
  ]);
  const go = resolve({
    GIT_CHECKOUT: "0",
    AFTER_SCRIPT_IGNORE_ERRORS: "F",
    CI_DEBUG_TRACE: "TRUE",
  });
  assert.equal(go.gitCheckout, false);
  assert.equal(go.afterScriptIgnoreErrors, false);
  assert.equal(go.debugTrace, true);
  assert.deepEqual(go.warnings, []);
});

Deno.test("CI_DEBUG_TRACE on a runner with debug_trace_disabled is off with the official warning", () => {
  const resolve = (vars: Record<string, string>, debugTraceDisabled: boolean) =>
    resolveBuildSettings((k) => vars[k], {
      allowGitFetch: true,
      jobTimeoutMs: 3_600_000,
      debugTraceDisabled,
    });
  const disabled = resolve({ CI_DEBUG_TRACE: "true" }, true);
  assert.equal(disabled.debugTrace, false);
  assert.deepEqual(disabled.warnings, ["CI_DEBUG_TRACE: usage is disabled on this Runner"]);
  assert.deepEqual(resolve({ CI_DEBUG_TRACE: "false" }, true).warnings, []);
  const allowed = resolve({ CI_DEBUG_TRACE: "true" }, false);
  assert.equal(allowed.debugTrace, true);
  assert.deepEqual(allowed.warnings, []);
  // CI_DEBUG_SERVICES alike, as the official runner (validateDebugTraceSettings).
  assert.deepEqual(resolve({ CI_DEBUG_SERVICES: "1" }, true).warnings, [
    "CI_DEBUG_SERVICES: usage is disabled on this Runner",
  ]);
  assert.deepEqual(resolve({ CI_DEBUG_SERVICES: "1" }, false).warnings, []);
});
