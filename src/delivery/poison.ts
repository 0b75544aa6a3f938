/**
 * The poison guard. A lane whose turn fails for a reason that is not a delivery failure — a script
 * error, a bug, an entry that cannot be read — is retried by BullMQ every 2 s; if the failure
 * comes from the head itself, it would fail (and maybe be delivered) again forever, with the rest
 * of the conversation stuck behind it. So every such failure is counted against the head (by its
 * SHA-1, in Redis, so it counts across processes and for entries nothing can decode), and after
 * POISON_LIMIT failures on one head (within STRIKES_TTL_MS of the previous one), that head goes to
 * the dead-letter list with code `poison` and the error, and the lane goes on with its next message.
 * A head that changes (popped, or its progress saved) starts from zero.
 *
 * Not counted: Redis being away and a turn that lost its lane's lock — no fault of the head.
 */
import { randomUUID } from 'node:crypto';
import { redact } from '../redact.js';
import { wellFormed, wellFormedDeep } from '../text.js';
import { parseItem, type DeadLetter, type LaneItem, type LaneRef, type LaneStore, type TurnLock } from './lane-store.js';

/** Unexpected turn failures on one head before it is set aside: it is delivered at most this often. */
export const POISON_LIMIT = 3;
/** How long a head's failure count is kept after its last failure (BullMQ retries a failed turn after 2 s). */
const STRIKES_TTL_MS = 3_600_000;

const REDIS_AWAY =
  /Connection is closed|Stream isn't writeable|max retries per request|Command timed out|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ClusterAllFailed|slots cache|^(LOADING|OOM|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|NOREPLICAS|MOVED|ASK)\b/i;
/** BullMQ refusing a move of a job whose lock this worker no longer holds. */
const LANE_LOST = /Missing lock|Lock mismatch/;

/** Whether a turn's failure may be its head's fault (see above for what is not). */
export function mayBePoison(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  return !REDIS_AWAY.test(message) && !LANE_LOST.test(message) && !(typeof code === 'string' && REDIS_AWAY.test(code));
}

/**
 * Counts a failed turn against the lane's head; on its POISON_LIMIT-th failure, moves the
 * head to the dead-letter list and returns its letter. Only while `lock` is still this turn's.
 */
export async function strikeHead(
  store: LaneStore,
  lane: LaneRef,
  err: unknown,
  lock: TurnLock | undefined,
  limit = POISON_LIMIT,
): Promise<DeadLetter<unknown> | undefined> {
  const { failures, sha } = await store.strikeHead(lane, STRIKES_TTL_MS, lock);
  if (failures < limit || !sha) return undefined;
  const raw = await store.redis.lindex(store.laneKey(lane), 0);
  if (raw === null) return undefined;
  const now = Date.now();
  const item = salvage(raw, now);
  const message = redact(err instanceof Error ? err.message : String(err));
  const letter: DeadLetter<unknown> = {
    id: item.id,
    direction: store.direction,
    lane,
    item,
    reason: `poison: the worker failed ${failures} times on this message (last: ${message}); set aside so that the conversation goes on`,
    code: 'poison',
    failedAt: now,
    attempts: failures,
  };
  return (await store.deadLetterPoison(letter, sha, lock)) ? letter : undefined;
}

/** The head as a message for the dead-letter list: as read when possible, else its raw text as the payload. */
function salvage(raw: string, now: number): LaneItem<unknown> {
  try {
    return wellFormedDeep(parseItem(raw));
  } catch {
    return { id: randomUUID(), at: now, cid: randomUUID(), payload: wellFormed(raw) };
  }
}
