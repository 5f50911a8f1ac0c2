/**
 * One progress line on stderr, redrawn in place with `\r`, only when stderr
 * is a terminal (`CliIo.isTerminal`): a pipe or a log file gets nothing.
 * `loom import openapi` shows the URL it fetches and the operations drafted.
 *
 * @module
 */

import { escapeForTerminal } from "../_util/terminal.ts";
import type { CliIo } from "./_io.ts";

/** Cells of the bar between its brackets. */
export const BAR_WIDTH = 20;

/**
 * The text of a progress bar: `[#####...............] 612/1223 operations`.
 *
 * @param done items done (clamped to 0..total)
 * @param total items in all
 * @param unit what is counted
 * @param width cells of the bar
 */
export function progressBar(done: number, total: number, unit: string, width = BAR_WIDTH): string {
  const shown = Math.min(Math.max(0, done), Math.max(0, total));
  const filled = total > 0 ? Math.floor((shown / total) * width) : width;
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${shown}/${total} ${unit}`;
}

/** A line redrawn in place, and cleared. */
export interface ProgressLine {
  /** Replace the line's text (escaped for the terminal). */
  show(text: string): void;
  /** Blank the line, if anything was shown, and leave the cursor at its start. */
  clear(): void;
}

/**
 * The progress line of a command: draws on `io.err` only when `io.isTerminal`.
 *
 * @param io the command's process view
 */
export function progressLine(io: CliIo): ProgressLine {
  let width = 0;
  return {
    show(text) {
      if (!io.isTerminal) return;
      const line = escapeForTerminal(text);
      io.err(`\r${line}${" ".repeat(Math.max(0, width - line.length))}`);
      width = Math.max(width, line.length);
    },
    clear() {
      if (!io.isTerminal || width === 0) return;
      io.err(`\r${" ".repeat(width)}\r`);
      width = 0;
    },
  };
}
