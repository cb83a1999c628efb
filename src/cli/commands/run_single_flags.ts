/**
 * The flags of `runner run-single`: those of `run` that apply, and every
 * runner flag (cli/runner_flags.ts), a table built from the config schema
 * that `runner run` does not load.
 */
import { CONFIG_FLAG } from "../config_flags.ts";
import type { FlagSpec } from "../flags.ts";
import { RUNNER_FLAGS } from "../runner_flags.ts";

export const RUN_SINGLE_FLAGS: FlagSpec[] = [
  CONFIG_FLAG,
  { name: "runner", aliases: ["r"], type: "string", help: "Name of the runner in --config to use" },
  {
    name: "max-builds",
    type: "int",
    env: "MAX_BUILDS",
    help: "How many builds to process before exiting",
  },
  {
    name: "wait-timeout",
    type: "int",
    env: "WAIT_TIMEOUT",
    help: "How many seconds to wait for a job before exiting",
  },
  {
    name: "listen-address",
    type: "string",
    env: "LISTEN_ADDRESS",
    help: "Metrics server listening address",
  },
  ...RUNNER_FLAGS,
];
