/**
 * Who runs `loom approvals approve|deny`: the decision's principal
 * `cli:<os user name>`, from the process's own user id rather than from the
 * environment, which whoever starts the process can set to any name.
 *
 * Sources, best first:
 * 1. the user id: `Deno.uid()` (needs `--allow-sys`, which LOOM's command
 *    line does not ask for), else the owner of `/proc/self` (Linux; the
 *    process's effective user id, read with `--allow-read`);
 * 2. its name in `/etc/passwd`;
 * 3. where the user database cannot be read (macOS keeps users elsewhere),
 *    `USER` or `LOGNAME`, when it is a plain login name;
 * 4. `uid-<n>` when only the id is known; `unknown` when nothing is.
 *
 * This names the reviewer in records; it is not an authentication: anyone
 * who can run the command as that OS user can approve (the state database
 * and the audit log are that user's files, mode 0600).
 *
 * @module
 */

const LOGIN_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** How {@linkcode cliPrincipal} reads the system (a seam for tests). */
export interface OsUserSources {
  /** The environment. */
  env: { get(key: string): string | undefined };
  /** The process's user id, or null. Default: `Deno.uid()`, else the owner of `/proc/self`. */
  uid?: () => number | null;
  /** The text of the user database, or null. Default: `/etc/passwd`. */
  passwd?: () => string | null;
}

/**
 * `cli:<os user name>` for the process running the command.
 *
 * @param sources environment, and optionally the uid and passwd readers
 */
export function cliPrincipal(sources: OsUserSources): string {
  const uid = (sources.uid ?? processUid)();
  if (uid !== null) {
    const name = userName((sources.passwd ?? readPasswd)(), uid);
    if (name !== null) return `cli:${name}`;
  }
  const claimed = sources.env.get("USER") || sources.env.get("LOGNAME");
  if (claimed && LOGIN_NAME.test(claimed)) return `cli:${claimed}`;
  return uid === null ? "cli:unknown" : `cli:uid-${uid}`;
}

/**
 * The login name of `uid` in `/etc/passwd` text (`name:x:uid:...` lines).
 *
 * @returns the name, or null when absent or not a plain login name
 */
export function userName(passwd: string | null, uid: number): string | null {
  if (passwd === null) return null;
  for (const line of passwd.split("\n")) {
    const [name, , id] = line.split(":");
    if (id !== undefined && Number(id) === uid && id.trim() !== "" && LOGIN_NAME.test(name)) {
      return name;
    }
  }
  return null;
}

function processUid(): number | null {
  try {
    const uid = Deno.uid();
    if (uid !== null) return uid;
  } catch {
    // No sys permission: fall back to the owner of /proc/self.
  }
  try {
    return Deno.statSync("/proc/self").uid;
  } catch {
    return null;
  }
}

function readPasswd(): string | null {
  try {
    return Deno.readTextFileSync("/etc/passwd");
  } catch {
    return null;
  }
}
