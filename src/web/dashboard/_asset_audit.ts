/**
 * The audit page's script (`/assets/audit.js`): follows the live stream
 * (`/api/audit/stream`, with the page's filters and the newest seq it shows)
 * with an `EventSource` and prepends each new record to the table. Rows are
 * built with DOM methods and `textContent` only: record text is data, never
 * markup. A polite live region counts what arrived. Without the script the
 * page is still complete (reload for newer records).
 *
 * @module
 */

/** The script's text. */
export const AUDIT_JS = `// The audit page's live stream.
const status = document.getElementById("audit-live");
const body = document.querySelector("#audit-records tbody");
const SKIP = new Set(["seq", "ts", "event", "agent", "tool", "prev", "hash", "sig"]);
const MAX_ROWS = 1000;

function summary(r) {
  const text = Object.entries(r)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => k + "=" + (typeof v === "string" ? v : JSON.stringify(v)))
    .join(" ");
  return text.length > 240 ? text.slice(0, 239) + "\\u2026" : text;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(r) {
  const tr = document.createElement("tr");
  const first = document.createElement("td");
  const link = document.createElement("a");
  link.href = "/audit/record/" + encodeURIComponent(String(r.seq));
  link.textContent = String(r.seq);
  first.append(link);
  tr.append(
    first,
    cell(String(r.ts)),
    cell(String(r.event)),
    cell(String(r.agent)),
    cell(r.tool === null || r.tool === undefined ? "\\u2014" : String(r.tool)),
    cell(summary(r), "mono"),
  );
  return tr;
}

if (status && body && status.dataset.stream && "EventSource" in window) {
  let count = 0;
  status.textContent = "Live: connecting\\u2026";
  const source = new EventSource(status.dataset.stream);
  source.addEventListener("ready", () => {
    status.textContent = count === 0 ? "Live: waiting for new records" :
      "Live: " + count + " new record" + (count === 1 ? "" : "s");
  });
  source.addEventListener("record", (event) => {
    let record;
    try {
      record = JSON.parse(event.data);
    } catch {
      return;
    }
    if (typeof record !== "object" || record === null) return;
    document.getElementById("audit-empty")?.remove();
    body.prepend(row(record));
    while (body.rows.length > MAX_ROWS) body.lastElementChild.remove();
    count++;
    status.textContent = "Live: " + count + " new record" + (count === 1 ? "" : "s");
  });
  source.addEventListener("failed", () => {
    source.close();
    status.textContent = "Live updates stopped: the log cannot be read; reload the page";
  });
  source.addEventListener("error", () => {
    status.textContent = source.readyState === EventSource.CLOSED
      ? "Live updates stopped: reload the page"
      : "Live: reconnecting\\u2026";
  });
}
`;
