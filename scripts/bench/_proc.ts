/**
 * Readers of `/proc` for the bench: CPU time and resident memory of a process,
 * and a description of the machine. Linux only; elsewhere every reader returns
 * null and the bench prints "n/a". And {@linkcode denoRunOutput}, which runs a
 * bench script in a process of its own.
 *
 * @module
 */

/**
 * Run `deno run ARGS` (a bench script in a fresh process: a cold start, or a
 * heap apart from the driver's) and return its stdout.
 *
 * @param label names the script in the error
 * @param args the arguments after `deno run`
 * @returns what the script printed
 * @throws {Error} when it exits unsuccessfully, with its stdout and stderr
 */
export async function denoRunOutput(label: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${label} failed:\n${text}${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** Clock ticks per second of `/proc/<pid>/stat` (USER_HZ; 100 on Linux). */
export const CLOCK_TICKS = 100;

/**
 * Two `/proc/<pid>/stat` fields after the command name (0 = field 3, `state`),
 * summed and turned from clock ticks into milliseconds.
 */
function statMs(pid: number | "self", first: number, second: number): number | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[first]) + Number(fields[second]);
  return Number.isFinite(ticks) ? (ticks * 1000) / CLOCK_TICKS : null;
}

/**
 * CPU time a process has used, user plus system, in milliseconds (all threads).
 *
 * @param pid the process id, or "self"
 * @returns milliseconds, or null when the process is gone or /proc is absent
 */
export function cpuMs(pid: number | "self"): number | null {
  // Fields 14 and 15 (utime, stime).
  return statMs(pid, 11, 12);
}

/**
 * CPU time of the children a process has waited for (cutime + cstime), in ms.
 *
 * @param pid the process id, or "self"
 * @returns milliseconds, or null
 */
export function childCpuMs(pid: number | "self"): number | null {
  // Fields 16 and 17 (cutime, cstime).
  return statMs(pid, 13, 14);
}

/**
 * Resident set size of a process in KiB (`VmRSS` of `/proc/<pid>/status`).
 *
 * @param pid the process id, or "self"
 * @returns KiB, or null
 */
export function rssKiB(pid: number | "self"): number | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return null;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** The machine a run happened on. */
export interface MachineInfo {
  cpus: number;
  model: string;
  memoryGiB: number;
  deno: string;
  v8: string;
  os: string;
  kernel: string;
  loadAverage: string;
}

/** Describe this machine from `/proc` and `Deno.version`. */
export function machineInfo(): MachineInfo {
  const read = (path: string): string => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return "";
    }
  };
  const cpuinfo = read("/proc/cpuinfo");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown";
  const mem = /^MemTotal:\s+(\d+)\s+kB/m.exec(read("/proc/meminfo"));
  return {
    cpus: navigator.hardwareConcurrency,
    model,
    memoryGiB: mem ? Math.round(Number(mem[1]) / 1048576 * 10) / 10 : 0,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    os: `${Deno.build.os}/${Deno.build.arch}`,
    kernel: read("/proc/sys/kernel/osrelease").trim(),
    loadAverage: read("/proc/loadavg").split(" ").slice(0, 3).join(" "),
  };
}
