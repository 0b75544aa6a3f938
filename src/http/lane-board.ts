/**
 * bull-board over the lane queues. A lane job names only a conversation ("<channel>|<client>");
 * when the board asks for jobs, this adapter adds what an operator came for: the conversation's
 * next message (its type and first words), how many messages wait in the lane, the failed
 * attempts so far, when the next try is and the last error. It is read from the lane at display
 * time and never stored; the job list shows it as the job's name.
 */
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { Job } from 'bullmq';
import type { LaneJobData, LaneQueue } from '../delivery/lane-queue.js';
import type { LaneItem } from '../delivery/lane-store.js';

const PREVIEW_CHARS = 80;

/** A message's type and first words (or its file's address, shortened), on one line. */
export function describeMessage(payload: unknown): { type: string; preview: string } {
  const p = (payload ?? {}) as { type?: unknown; data?: unknown };
  const type = typeof p.type === 'string' ? p.type : 'unknown';
  const data = typeof p.data === 'string' ? p.data : '';
  const oneLine = (type === 'text' ? data : data.replace(/[?#].*$/, '')).replace(/\s+/g, ' ').trim();
  return { type, preview: oneLine.length > PREVIEW_CHARS ? `${oneLine.slice(0, PREVIEW_CHARS - 1)}…` : oneLine };
}

export interface HeadSummary {
  type: string;
  text: string;
  received: string;
  failedAttempts: number;
  nextTry?: string;
  lastError?: string;
}

function summarize(head: LaneItem<unknown>, data: LaneJobData): HeadSummary {
  const { type, preview } = describeMessage(head.payload);
  // The retry state belongs to the head it was recorded for; a newer head starts afresh.
  const retry = data.retry?.itemId === head.id ? data.retry : undefined;
  return {
    type,
    text: preview,
    received: new Date(head.at).toISOString(),
    failedAttempts: retry?.attempts ?? 0,
    ...(retry?.nextTry ? { nextTry: new Date(retry.nextTry).toISOString() } : {}),
    ...(retry?.lastError ? { lastError: retry.lastError } : {}),
  };
}

export class LaneBoardAdapter extends BullMQAdapter {
  constructor(
    private readonly lanes: LaneQueue<unknown>,
    description: string,
  ) {
    super(lanes.queue, { readOnlyMode: false, description });
    this.setFormatter('name', (job: { name?: string; data?: { message?: HeadSummary } }) => {
      const m = job.data?.message;
      return m ? `${m.type}: ${m.text}` : (job.name ?? '');
    });
  }

  override async getJobs(...args: Parameters<BullMQAdapter['getJobs']>): Promise<Job[]> {
    const jobs = await super.getJobs(...args);
    await Promise.all(jobs.map((job) => this.describe(job)));
    return jobs;
  }

  override async getJob(id: string): Promise<Job | undefined> {
    const job = await super.getJob(id);
    if (job) await this.describe(job);
    return job;
  }

  /** Adds the head message to the job's data as the board shows it (this copy only). */
  private async describe(job: Job): Promise<void> {
    const data = job.data as LaneJobData;
    if (typeof data?.channelId !== 'string' || typeof data.clientId !== 'string') return;
    const lane = { channelId: data.channelId, clientId: data.clientId };
    try {
      const [head, waiting] = await Promise.all([this.lanes.store.head<unknown>(lane), this.lanes.store.length(lane)]);
      const { retry: _internal, ...shown } = data;
      job.data = head ? { ...shown, message: summarize(head, data), messagesInLane: waiting } : { ...shown, messagesInLane: 0 };
    } catch {
      // Redis unreadable: the board shows the job as it is.
    }
  }
}
