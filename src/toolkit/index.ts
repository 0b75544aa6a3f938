/**
 * The adapter toolkit: everything an adapter may use from the core besides the contract
 * (src/adapter.ts). Adapters import only these two modules (test/unit/adapter-imports.test.ts), so
 * the core can change behind them and a new messenger never reaches into core internals.
 *
 * - failures: DeliveryError tells the queue how a send failed (transient, rate-limited, permanent)
 * - downloads: openDownload fetches an untrusted URL (size-capped, no private addresses)
 * - media types: which types are safe to show inline, clean file names
 * - text: well-formed strings (a lone surrogate becomes U+FFFD), cuts between characters
 * - secrets: redact / registerSecret keep credentials out of logs; safeEqual, deriveSecret
 * - polling: LeasedPoller, one long poller per account across processes
 * - HTTP: retryAfterMs; keep-alive agents (keepAliveAgents); Standard Webhooks signatures (signWebhook, verifyWebhook…)
 * - pages: static assets for adapters that serve a page (the web chat)
 * - CLI: UsageError / CliError for `blinger-bridge <type> …` commands
 * - text: splitText cuts a long text at a messenger's limit (never inside a character)
 * - uploads: multipartBody streams one file as multipart/form-data
 * - Meta's Graph API: webhook handshake and signature, client, error envelope and classification,
 *   queueing a webhook's batch of events
 */
export { DeliveryError, isRetryableStatus, type FailureKind, type DeliveryErrorOptions } from '../delivery/errors.js';
export {
  openDownload,
  DownloadFailed,
  DownloadRefused,
  fileNameFromDisposition,
  fileNameFromUrl,
  sanitizeFileName,
  type Download,
  type DownloadOptions,
} from '../net/safe-download.js';
export { cleanFileName, isInlineImage, mediaType, servableType } from '../media/safe-type.js';
export { extensionFor, withExtension } from '../media/extensions.js';
export { cutPoint, parseJsonWellFormed, stringifyWellFormed, truncate, wellFormed, wellFormedDeep } from '../text.js';
export { redact, registerSecret } from '../redact.js';
export { safeEqual, deriveSecret } from './crypto.js';
export { LeasedPoller, type LeasedPollerOptions } from './polling.js';
export { retryAfterMs } from './http.js';
export { keepAliveAgents, keepAliveAgentFor } from '../net/keep-alive.js';
export {
  newWebhookSecret,
  signWebhook,
  verifyWebhook,
  webhookHeaders,
  webhookHeadersProblem,
  webhookKey,
  type VerifyResult,
} from './standard-webhooks.js';
export { splitText } from './split-text.js';
export {
  answerGraphChallenge,
  checkGraphWebhook,
  classifyGraphError,
  DEFAULT_GRAPH_API_VERSION,
  GRAPH_HOURLY_THROTTLE_WAIT_MS,
  GRAPH_THROTTLE_WAIT_MS,
  GRAPH_WEBHOOK_BODY_LIMIT,
  GraphClient,
  GraphError,
  graphErrorFromBody,
  hasValidHubSignature,
  toGraphError,
  type GraphClientOptions,
  type GraphDownload,
  type MultipartPart,
} from './graph.js';
export { enqueueGraphBatch, type GraphBatchEvent, type GraphBatchOptions } from './graph-batch.js';
export { loadAssets, sendAsset, render, escapeHtml, type Asset } from '../http/assets.js';
export { parseDuration } from '../config/duration.js';
export { UsageError, CliError } from '../cli/errors.js';
export { answerHelp, forEachChannel, type ChannelCommand } from '../cli/adapter-commands.js';
export { multipartBody, type MultipartFile, type MultipartBody } from './multipart.js';
