/**
 * The programs some tests run besides Deno, installed when missing: the
 * Debian packages `prometheus` and `prometheus-alertmanager` (the starter
 * packs' tests against the real services) and `chromium` with
 * `fonts-liberation` (the dashboard's browser tests). Those tests fail,
 * never skip, without them; so `deno task test` (through `deno task deps`)
 * installs them with apt-get when it can: as root, or with `sudo` that needs
 * no password. Otherwise it says what to install and goes on.
 *
 * @module
 */

/** A program a test needs, and the packages that provide it. */
interface Need {
  path: string;
  packages: string[];
}

const NEEDS: Need[] = [
  { path: "/usr/bin/prometheus", packages: ["prometheus"] },
  { path: "/usr/bin/prometheus-alertmanager", packages: ["prometheus-alertmanager"] },
  { path: "/usr/bin/chromium", packages: ["chromium", "fonts-liberation"] },
];

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function run(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdout: "inherit",
      stderr: "inherit",
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

const missing: string[] = [];
for (const need of NEEDS) if (!(await exists(need.path))) missing.push(...need.packages);
if (missing.length > 0) {
  const root = Deno.uid() === 0;
  const sudo = !root && await run("sudo", ["-n", "true"]);
  if ((!root && !sudo) || !(await exists("/usr/bin/apt-get"))) {
    console.error(
      `deps: missing ${missing.join(", ")}; their tests will fail. Install them, e.g. ` +
        `"apt-get install ${missing.join(" ")}"`,
    );
  } else {
    console.error(`deps: installing ${missing.join(", ")} with apt-get`);
    const apt = (args: string[]) =>
      root ? run("apt-get", args) : run("sudo", ["-n", "apt-get", ...args]);
    const ok = await apt(["update", "-q"]) &&
      await apt(["install", "-y", "-q", "--no-install-recommends", ...missing]);
    if (!ok) console.error(`deps: could not install ${missing.join(", ")}; their tests will fail`);
  }
}
