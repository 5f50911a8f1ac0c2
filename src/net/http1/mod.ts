/**
 * LOOM's own HTTP/1.1 client for upstream requests; why it exists and what it
 * refuses is in `client.ts` and `docs/decisions/0001-http-client.md`.
 *
 * @module
 */

export {
  BodyLimitError,
  type ClientRequest,
  type ClientResponse,
  ConnectionClosedError,
  type ConnectionPin,
  HttpClient,
  type HttpClientOptions,
  ProtocolError,
} from "./client.ts";
