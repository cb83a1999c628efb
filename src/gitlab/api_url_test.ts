import assert from "node:assert/strict";
import { apiRootUrl, apiUrl, rebaseRoot } from "./api_url.ts";

Deno.test("the API root strips trailing slashes and a legacy /ci suffix", () => {
  assert.equal(apiRootUrl("https://gl.example.com/ci/").href, "https://gl.example.com/api/v4/");
  assert.equal(apiRootUrl("https://gl.example.com").href, "https://gl.example.com/api/v4/");
  assert.equal(apiRootUrl("http://host:8080/gitlab//").href, "http://host:8080/gitlab/api/v4/");
});

Deno.test("a URL that is not http or https is rejected with a clear error", () => {
  assert.throws(() => apiRootUrl("ftp://gl.example.com"), /scheme "ftp" is not http or https/);
  assert.throws(() => apiRootUrl("gl.example.com"), /Invalid GitLab URL "gl.example.com"/);
});

Deno.test("paths resolve below the root; empty query values are dropped; a bare ? can be kept", () => {
  const root = apiRootUrl("https://gl.example.com/ci");
  assert.equal(apiUrl(root, "jobs/request").href, "https://gl.example.com/api/v4/jobs/request");
  assert.equal(
    apiUrl(root, "jobs/7/artifacts", { query: { "artifact_format": "", "expire_in": "1 week" } })
      .href,
    "https://gl.example.com/api/v4/jobs/7/artifacts?expire_in=1+week",
  );
  assert.equal(
    apiUrl(root, "jobs/7/artifacts", { keepEmptyQuery: true }).href,
    "https://gl.example.com/api/v4/jobs/7/artifacts?",
  );
});

Deno.test("a 307 Location moves only scheme and host of the root", () => {
  const root = apiRootUrl("http://gl.example.com/sub");
  assert.equal(
    rebaseRoot(root, "https://upload.example.com:9000/x/y?z=1").href,
    "https://upload.example.com:9000/sub/api/v4/",
  );
});
