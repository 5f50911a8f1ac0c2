/**
 * A directory watched in bursts: each run of changes, once the directory
 * has been quiet for a while, is one call. Editors save in several steps
 * (a temporary file, a rename), and a mesh reload should see the result,
 * not each step. Reads (`access` events, a reload's own) are ignored.
 *
 * @module
 */

/** A watch in progress. */
export interface DirWatch {
  /** Stop watching; then await `done`. */
  close(): void;
  /** Settles when the watch has ended. */
  done: Promise<void>;
}

/**
 * Watch a directory (not recursively).
 *
 * @param dir the directory
 * @param quietMs how long it must be quiet before `onQuiet`
 * @param onQuiet called once per burst of changes
 * @param onError called when watching fails (not when closed)
 */
export function watchDirectory(
  dir: string,
  quietMs: number,
  onQuiet: () => void,
  onError: (error: unknown) => void,
): DirWatch {
  const watcher = Deno.watchFs(dir, { recursive: false });
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const done = (async () => {
    try {
      for await (const event of watcher) {
        if (event.kind === "access") continue;
        clearTimeout(timer);
        timer = setTimeout(() => closed || onQuiet(), quietMs);
      }
    } catch (error) {
      if (!closed) onError(error);
    } finally {
      clearTimeout(timer);
    }
  })();
  return {
    close() {
      closed = true;
      try {
        watcher.close();
      } catch { /* already closed */ }
    },
    done,
  };
}
