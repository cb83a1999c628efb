import assert from "node:assert/strict";
import { mergeTemplate } from "./config_template.ts";

Deno.test("mergeTemplate fills absent and empty settings as mergo does; given ones win", () => {
  const flags: Record<string, unknown> = {
    limit: 0,
    "output_limit": 100,
    shell: "",
    "debug_trace_disabled": false,
    environment: [],
    "unhealthy_interval": "0s",
    "prepare_timeout": "2m",
    docker: { image: "alpine", volumes: ["/a"], sysctls: { "a": "", "b": "1" } },
    "feature_flags": { FF_A: false, FF_B: true },
  };
  mergeTemplate(flags, {
    limit: 4,
    "output_limit": 9,
    shell: "bash",
    "debug_trace_disabled": true,
    environment: ["X=1"],
    "unhealthy_interval": "1h",
    "prepare_timeout": "5m",
    "builds_dir": "/b",
    docker: {
      image: "ruby",
      volumes: ["/t"],
      privileged: false,
      sysctls: { a: "2", b: "3", c: "4" },
      services: [{ name: "redis" }],
    },
    "feature_flags": { FF_A: true, FF_B: false, FF_C: false },
  });
  assert.deepEqual(flags, {
    limit: 4,
    "output_limit": 100,
    shell: "bash",
    "debug_trace_disabled": true,
    environment: ["X=1"],
    "unhealthy_interval": "1h",
    "prepare_timeout": "2m",
    "builds_dir": "/b",
    docker: {
      image: "alpine",
      volumes: ["/a"],
      privileged: false,
      sysctls: { a: "2", b: "1", c: "4" },
      services: [{ name: "redis" }],
    },
    "feature_flags": { FF_A: true, FF_B: true, FF_C: false },
  });
});
