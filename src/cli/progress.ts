/**
 * A progress bar for long CLI operations, on stderr so stdout stays clean for scripts. On a
 * terminal it redraws one line; elsewhere (CI logs, pipes) it prints a line every 10 %.
 */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function progressBar(label: string, stream: ProgressStream = process.stderr): (done: number, total: number) => void {
  let lastDecile = -1;
  let lastDraw = 0;
  return (done, total) => {
    if (total === 0) return;
    const ratio = Math.min(1, done / total);
    const pct = Math.floor(ratio * 100);
    if (stream.isTTY) {
      const now = Date.now();
      // Redraw at most every 50 ms, but always the last step.
      if (done < total && now - lastDraw < 50) return;
      lastDraw = now;
      const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - label.length - 30));
      const filled = Math.round(ratio * width);
      stream.write(`\r${label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${total} ${pct}%`);
      if (done >= total) stream.write('\n');
      return;
    }
    const decile = Math.floor(pct / 10);
    if (decile === lastDecile && done < total) return;
    lastDecile = decile;
    stream.write(`${label}: ${done}/${total} (${pct}%)\n`);
  };
}
