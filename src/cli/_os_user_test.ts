import assert from "node:assert/strict";
import { cliPrincipal, userName } from "./_os_user.ts";

const PASSWD = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n";
const env = (entries: Record<string, string>) => new Map(Object.entries(entries));

Deno.test("cliPrincipal(): USER cannot rename the process's user when the user database names it", () => {
  const got = cliPrincipal({
    env: env({ USER: "mallory" }),
    uid: () => 1000,
    passwd: () => PASSWD,
  });
  assert.equal(got, "cli:alice");
});

Deno.test("cliPrincipal(): USER or LOGNAME only where the user database cannot name the uid", () => {
  assert.equal(
    cliPrincipal({ env: env({ LOGNAME: "carol" }), uid: () => 501, passwd: () => null }),
    "cli:carol",
  );
  assert.equal(
    cliPrincipal({ env: env({ USER: "bad name;" }), uid: () => 501, passwd: () => PASSWD }),
    "cli:uid-501",
  );
  assert.equal(cliPrincipal({ env: env({}), uid: () => null, passwd: () => null }), "cli:unknown");
});

Deno.test("cliPrincipal(): the real process user is found without --allow-sys (this process)", () => {
  const got = cliPrincipal({ env: env({ USER: "mallory-not-me" }) });
  assert.match(got, /^cli:[A-Za-z0-9._-]+$/);
  if (Deno.build.os !== "linux") return;
  const uid = Deno.statSync("/proc/self").uid!;
  const name = userName(Deno.readTextFileSync("/etc/passwd"), uid);
  // Where the user database names this uid (most hosts), the environment is ignored.
  assert.equal(got, name === null ? "cli:mallory-not-me" : `cli:${name}`);
});

Deno.test("userName() matches the uid field exactly", () => {
  assert.equal(userName(PASSWD, 0), "root");
  assert.equal(userName(PASSWD, 100), null);
  assert.equal(userName("broken\n::\n", 0), null);
});
