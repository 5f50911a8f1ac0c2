/**
 * The per-client quota table of the MCP HTTP transport: how many sessions
 * and notification streams each client holds, and how many in all.
 *
 * Sessions and streams are memory and open connections, so a client that
 * opens many could crowd out the others. Admission is by quota: at most
 * `maxSessionsPerClient` sessions and `maxStreamsPerClient` streams per
 * client, within `maxSessions` and `maxStreams` in all. A client is the key
 * `clientKey` (`guard.ts`) makes of its credential and remote address. This
 * table only counts; the session table (`_sessions.ts`) decides what to do
 * when a quota is full, and a session counts here from its admission (while
 * its initialize still runs) until it ends.
 *
 * @module
 */

/** One client's share of the table. */
export interface ClientUsage {
  /** Its key in the quota table (see `clientKey`). */
  key: string;
  sessions: number;
  streams: number;
}

/** The limits of a quota table. */
export interface QuotaLimits {
  /** Most sessions in all. */
  maxSessions: number;
  /** Most sessions of one client. */
  maxSessionsPerClient: number;
  /** Most open notification streams in all. */
  maxStreams: number;
  /** Most open notification streams of one client. */
  maxStreamsPerClient: number;
}

/** Session and stream counts per client and in all, against their limits. */
export class ClientQuotas {
  readonly #limits: QuotaLimits;
  readonly #clients = new Map<string, ClientUsage>();
  /** Sessions admitted, counting those whose initialize is still running. */
  #sessionTotal = 0;
  #streamTotal = 0;

  /** @param limits the quotas */
  constructor(limits: QuotaLimits) {
    this.#limits = limits;
  }

  /** Number of open notification streams, of sessions and stateless. */
  get streamTotal(): number {
    return this.#streamTotal;
  }

  /** The usage of a client, if it holds anything. */
  usage(key: string): ClientUsage | undefined {
    return this.#clients.get(key);
  }

  /** Whether the client `key` holds as many sessions as it may. */
  clientSessionsFull(key: string): boolean {
    return (this.#clients.get(key)?.sessions ?? 0) >= this.#limits.maxSessionsPerClient;
  }

  /** Whether a new session of the client `key` would exceed its quota or the total. */
  sessionsFull(key: string): boolean {
    return this.clientSessionsFull(key) || this.#sessionTotal >= this.#limits.maxSessions;
  }

  /**
   * Count a new session of the client `key` (the caller checked
   * `sessionsFull`).
   *
   * @returns the usage the session counts against
   */
  addSession(key: string): ClientUsage {
    let usage = this.#clients.get(key);
    if (!usage) {
      usage = { key, sessions: 0, streams: 0 };
      this.#clients.set(key, usage);
    }
    usage.sessions++;
    this.#sessionTotal++;
    return usage;
  }

  /** Give back a session's slot; a client with no session and no stream left is forgotten. */
  releaseSession(usage: ClientUsage): void {
    usage.sessions--;
    this.#sessionTotal--;
    if (usage.sessions === 0 && usage.streams === 0 && this.#clients.get(usage.key) === usage) {
      this.#clients.delete(usage.key);
    }
  }

  /** Whether one more stream for `usage` would exceed its quota or the total. */
  streamsFull(usage: ClientUsage): boolean {
    return usage.streams >= this.#limits.maxStreamsPerClient ||
      this.#streamTotal >= this.#limits.maxStreams;
  }

  /** Count a session's stream (the caller checked `streamsFull`). */
  addStream(usage: ClientUsage): void {
    usage.streams++;
    this.#streamTotal++;
  }

  /** Give back a session's stream slot (the session still holds its usage). */
  removeStream(usage: ClientUsage): void {
    usage.streams--;
    this.#streamTotal--;
  }

  /**
   * Count a stream outside any session (`subscriptions/listen`) for the
   * client `key`.
   *
   * @returns the usage to give back with `closeStream`, or null when over a quota
   */
  openStream(key: string): ClientUsage | null {
    const usage = this.#clients.get(key) ?? { key, sessions: 0, streams: 0 };
    if (this.streamsFull(usage)) return null;
    this.#clients.set(key, usage);
    this.addStream(usage);
    return usage;
  }

  /** Give back a stream of `openStream`; a client holding nothing is forgotten. */
  closeStream(usage: ClientUsage): void {
    this.removeStream(usage);
    if (usage.sessions === 0 && usage.streams === 0 && this.#clients.get(usage.key) === usage) {
      this.#clients.delete(usage.key);
    }
  }
}
