/**
 * GitLab's per-report-type archive format and default file name (the
 * `artifact_format` and `name` it sends for `artifacts:reports`).
 */
const REPORTS: Readonly<Record<string, { format: "gzip" | "raw" | "zip"; file: string }>> = {
  junit: { format: "gzip", file: "junit.xml" },
  dotenv: { format: "gzip", file: ".env" },
  cobertura: { format: "gzip", file: "cobertura-coverage.xml" },
  jacoco: { format: "gzip", file: "jacoco.xml" },
  metrics: { format: "gzip", file: "metrics.txt" },
  cyclonedx: { format: "gzip", file: "gl-sbom.cdx.json" },
  annotations: { format: "gzip", file: "gl-annotations.json" },
  "repository_xray": { format: "gzip", file: "gl-repository-xray.json" },
  codequality: { format: "raw", file: "gl-code-quality-report.json" },
  accessibility: { format: "raw", file: "gl-accessibility.json" },
  sast: { format: "raw", file: "gl-sast-report.json" },
  "secret_detection": { format: "raw", file: "gl-secret-detection-report.json" },
  "dependency_scanning": { format: "raw", file: "gl-dependency-scanning-report.json" },
  "container_scanning": { format: "raw", file: "gl-container-scanning-report.json" },
  dast: { format: "raw", file: "gl-dast-report.json" },
  "license_scanning": { format: "raw", file: "gl-license-scanning-report.json" },
  "browser_performance": { format: "raw", file: "browser-performance.json" },
  "load_performance": { format: "raw", file: "load-performance.json" },
  terraform: { format: "raw", file: "tfplan.json" },
  requirements: { format: "raw", file: "requirements.json" },
  "coverage_fuzzing": { format: "raw", file: "gl-coverage-fuzzing.json" },
  "api_fuzzing": { format: "raw", file: "gl-api-fuzzing-report.json" },
};

/** Format and default file name for a report type; unknown types get `raw`. */
export function reportArchive(type: string): { format: string; file: string } {
  return REPORTS[type] ?? { format: "raw", file: type };
}
