/**
 * What "nothing lost, order exact, few duplicates" means, counted: compares what each
 * conversation should have received (in order) with what arrived (in arrival order).
 */

export interface Figures {
  /** Messages acknowledged to the sender (and so promised). */
  sent: number;
  /** Deliveries seen at the receiving end, duplicates included. */
  delivered: number;
  /** Promised messages that never arrived. */
  lost: number;
  /** Deliveries beyond the first of the same message. */
  duplicates: number;
  /** Places where a conversation went backwards (after collapsing immediate repeats), or an unknown message. */
  orderViolations: number;
  /** Largest number of duplicates in one conversation. */
  maxDuplicatesPerConversation: number;
  /** Duplicates that were not an immediate repeat of the message just delivered. */
  nonAdjacentDuplicates: number;
}

/** All figures 0: where counting starts. */
export function noFigures(): Figures {
  return { sent: 0, delivered: 0, lost: 0, duplicates: 0, orderViolations: 0, maxDuplicatesPerConversation: 0, nonAdjacentDuplicates: 0 };
}

/**
 * `expected`: conversation → its messages in the order they were sent.
 * `arrived`: conversation → what arrived, in arrival order.
 */
export function verify(expected: Map<string, string[]>, arrived: Map<string, string[]>): Figures {
  const f = noFigures();
  for (const list of expected.values()) f.sent += list.length;
  for (const [conversation, got] of arrived) {
    f.delivered += got.length;
    const want = expected.get(conversation);
    if (!want) {
      f.orderViolations += got.length;
      continue;
    }
    const position = new Map(want.map((m, i) => [m, i]));
    const seen = new Set<string>();
    let dups = 0;
    let prev: string | undefined;
    let furthest = -1;
    for (const m of got) {
      const pos = position.get(m);
      if (pos === undefined) {
        f.orderViolations++;
        continue;
      }
      if (seen.has(m)) {
        dups++;
        if (m !== prev) f.nonAdjacentDuplicates++;
      }
      // A conversation only moves forward; repeating the message just delivered is a duplicate,
      // not disorder. A gap is not disorder either: the missing message counts as lost, or as a
      // violation when it turns up later.
      if (m !== prev && pos < furthest) f.orderViolations++;
      furthest = Math.max(furthest, pos);
      seen.add(m);
      prev = m;
    }
    f.duplicates += dups;
    f.maxDuplicatesPerConversation = Math.max(f.maxDuplicatesPerConversation, dups);
  }
  for (const [conversation, want] of expected) {
    const got = new Set(arrived.get(conversation) ?? []);
    for (const m of want) if (!got.has(m)) f.lost++;
  }
  return f;
}

export function groupBy<T>(items: Iterable<T>, key: (t: T) => string, value: (t: T) => string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const it of items) {
    const k = key(it);
    let list = m.get(k);
    if (!list) m.set(k, (list = []));
    list.push(value(it));
  }
  return m;
}

export function figuresLine(name: string, f: Figures, extra = ''): string {
  return `${name}: sent=${f.sent} delivered=${f.delivered} lost=${f.lost} duplicates=${f.duplicates} order_violations=${f.orderViolations}${extra ? ` ${extra}` : ''}`;
}

/** One copy of a test message seen by a double, with the lane the bridge's logs name it by. */
export interface Copy {
  text: string;
  lane: string;
  at: number;
}

/** A worker's death: when, and the texts it had in flight (its lanes' heads right after it). */
export interface Kill {
  at: number;
  inFlight: Set<string>;
}

/**
 * The copies beyond a message's first that no cause the bridge knows of explains. A kill explains
 * one later copy of each message it found in flight; a timed-out attempt (`timeouts`, per lane)
 * explains one copy in its lane, as that attempt may have arrived all the same. `byKills` counts
 * the copies kills explain.
 */
export function unexplainedCopies(copies: Copy[], timeouts: Map<string, number>, kills: Kill[] = []) {
  const budget = new Map(timeouts);
  const seen = new Set<string>();
  const killsUsed = new Set<string>();
  let byKills = 0;
  const unexplained: string[] = [];
  for (const c of copies) {
    if (!seen.has(c.text)) {
      seen.add(c.text);
      continue;
    }
    // The latest kill before this copy that found the message in flight and explains no other copy of it.
    const kill = kills.findLastIndex((k, i) => c.at >= k.at && k.inFlight.has(c.text) && !killsUsed.has(`${c.text}@${i}`));
    if (kill >= 0) {
      killsUsed.add(`${c.text}@${kill}`);
      byKills++;
    } else if ((budget.get(c.lane) ?? 0) > 0) {
      budget.set(c.lane, budget.get(c.lane)! - 1);
    } else {
      unexplained.push(`${c.text} at ${c.at}`);
    }
  }
  return { unexplained, byKills };
}
