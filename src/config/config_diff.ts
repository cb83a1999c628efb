/**
 * One line saying what a reload changed, for the operator log:
 * `concurrent 4 → 8; runner abc123xyz added; runner def456ghi changed (limit, docker.image)`.
 * Runner entries are matched by token and named by short token; values of
 * runner keys are not shown because some are secrets.
 */
import { isSameConfigValue } from "./config_equal.ts";
import type { GlobalConfig, RunnerConfig } from "./runner_config.ts";
import {
  arrayFieldPath,
  getField,
  keyFieldPath,
  type Obj,
  relativeToRoot,
  supportedArraysOfRoot,
  supportedKeysOfRoot,
} from "./_field_path.ts";
import { shortToken } from "./short_token.ts";

function show(value: unknown): string {
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

function dotted(section: string, root: string, key: string): string {
  const relative = relativeToRoot(section, root);
  return relative === "" ? key : `${relative}.${key}`;
}

/** Official key paths (relative to `root`) whose values differ between a and b. */
function changedKeys(a: Obj, b: Obj, root: string): string[] {
  const changed: string[] = [];
  for (const key of supportedKeysOfRoot(root)) {
    const path = keyFieldPath(key);
    if (!isSameConfigValue(getField(a, path), getField(b, path))) {
      changed.push(dotted(key.section, root, key.key));
    }
  }
  for (const array of supportedArraysOfRoot(root)) {
    const path = arrayFieldPath(array.path);
    if (!isSameConfigValue(getField(a, path), getField(b, path))) {
      changed.push(relativeToRoot(array.path, root));
    }
  }
  const ua = (a["unsupported"] ?? {}) as Obj;
  const ub = (b["unsupported"] ?? {}) as Obj;
  for (const name of new Set([...Object.keys(ua), ...Object.keys(ub)])) {
    if (!isSameConfigValue(ua[name], ub[name])) changed.push(name);
  }
  return changed;
}

function runnerLabel(runner: RunnerConfig): string {
  return runner.token === "" ? JSON.stringify(runner.name) : shortToken(runner.token);
}

/** Identity of each runner entry: its token, numbered when a token repeats. */
function byToken(runners: readonly RunnerConfig[]): Map<string, RunnerConfig> {
  const out = new Map<string, RunnerConfig>();
  for (const runner of runners) {
    let id = runner.token;
    for (let n = 2; out.has(id); n++) id = `${runner.token}#${n}`;
    out.set(id, runner);
  }
  return out;
}

/** What changed from `before` to `after`, or "no changes". */
export function describeConfigChanges(before: GlobalConfig, after: GlobalConfig): string {
  const parts: string[] = [];
  const a = before as unknown as Obj;
  const b = after as unknown as Obj;
  for (const key of supportedKeysOfRoot("")) {
    const path = keyFieldPath(key);
    const old = getField(a, path);
    const now = getField(b, path);
    if (isSameConfigValue(old, now)) continue;
    const name = dotted(key.section, "", key.key);
    const scalar = (v: unknown) => typeof v !== "object" || v === null;
    parts.push(
      scalar(old) && scalar(now) ? `${name} ${show(old)} → ${show(now)}` : `${name} changed`,
    );
  }
  for (
    const name of changedKeys(
      { unsupported: a["unsupported"] },
      { unsupported: b["unsupported"] },
      "",
    )
  ) {
    parts.push(`${name} changed`);
  }
  const oldRunners = byToken(before.runners);
  const newRunners = byToken(after.runners);
  for (const [id, runner] of newRunners) {
    const old = oldRunners.get(id);
    if (old === undefined) {
      parts.push(`runner ${runnerLabel(runner)} added`);
      continue;
    }
    const changed = changedKeys(old as unknown as Obj, runner as unknown as Obj, "runners");
    if (changed.length > 0) {
      parts.push(`runner ${runnerLabel(runner)} changed (${changed.join(", ")})`);
    }
  }
  for (const [id, runner] of oldRunners) {
    if (!newRunners.has(id)) parts.push(`runner ${runnerLabel(runner)} removed`);
  }
  return parts.length === 0 ? "no changes" : parts.join("; ");
}
