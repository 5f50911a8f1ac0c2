/**
 * Stopping in order. A served LOOM stops on the first SIGINT (a terminal's
 * Ctrl-C) or SIGTERM (a service manager, a desktop client quitting): calls
 * in flight are answered where the transport allows, lifecycle records are
 * written, the sandbox processes are stopped, and the audit log is closed.
 * Only the first signal is taken; a second one ends the process at once if
 * the orderly stop hangs.
 *
 * @module
 */

/** The first SIGINT or SIGTERM; disposing stops listening. */
export interface StopSignals extends Disposable {
  /** Settles on the first SIGINT or SIGTERM. */
  signalled: Promise<void>;
}

/**
 * Watch for the signals that ask LOOM to stop. The listeners are removed on
 * the first signal and on dispose.
 *
 * @returns the watcher
 */
export function watchStopSignals(): StopSignals {
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  let resolve = () => {};
  const signalled = new Promise<void>((r) => (resolve = r));
  let listening = true;
  const remove = () => {
    if (!listening) return;
    listening = false;
    for (const s of signals) Deno.removeSignalListener(s, handler);
  };
  const handler = () => {
    remove();
    resolve();
  };
  for (const s of signals) Deno.addSignalListener(s, handler);
  return { signalled, [Symbol.dispose]: remove };
}

/**
 * `input` until `stop` settles, then ended as if the client had closed it
 * (stdio: a signal lets calls in flight be answered, then stops). The
 * underlying reader is cancelled, which also settles a read under way.
 *
 * @param input the byte stream (stdin)
 * @param stop settles when the input should end
 * @returns the stream to read instead
 */
export function endOn(
  input: ReadableStream<Uint8Array>,
  stop: Promise<void>,
): ReadableStream<Uint8Array> {
  const reader = input.getReader();
  stop.then(() => reader.cancel()).catch(() => {});
  return new ReadableStream({
    async pull(controller) {
      const next = await reader.read();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
}
