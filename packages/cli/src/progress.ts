import type { HashProgress } from "@track-run/core/bag";

/**
 * Progress for long work, on stderr: a redrawn bar on a terminal; otherwise a plain line every
 * `intervalMs` (CI logs). Quiet for work that ends before the first report would be due.
 */
export function progressReporter(
  label: string,
  options: { isTerminal: boolean; intervalMs?: number; stream?: NodeJS.WriteStream; now?: () => number },
): { update: (p: HashProgress) => void; done: () => void } {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  const start = now();
  const interval = options.intervalMs ?? (options.isTerminal ? 100 : 5000);
  let last = start;
  let drew = false;
  let latest: HashProgress | undefined;
  const line = (p: HashProgress): string => {
    const secs = Math.max((now() - start) / 1000, 0.001);
    const rate = p.bytesDone / secs;
    const frac =
      p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.filesTotal > 0 ? p.filesDone / p.filesTotal : 1;
    const eta = rate > 0 && p.bytesTotal > p.bytesDone ? (p.bytesTotal - p.bytesDone) / rate : 0;
    return `${label} ${(frac * 100).toFixed(0).padStart(3)}% ${p.filesDone}/${p.filesTotal} files, ${mib(p.bytesDone)}/${mib(p.bytesTotal)} MiB, ${mib(rate)} MiB/s, ETA ${eta.toFixed(0)} s`;
  };
  return {
    update(p) {
      latest = p;
      const t = now();
      if (t - last < interval) return;
      last = t;
      if (options.isTerminal) {
        const width = 24;
        const frac = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.filesDone / Math.max(p.filesTotal, 1);
        const filled = Math.round(frac * width);
        stream.write(`\r[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${line(p)}\x1b[K`);
      } else stream.write(`${line(p)}\n`);
      drew = true;
    },
    done() {
      if (drew && options.isTerminal) stream.write(`\r${latest ? line(latest) : label}\x1b[K\n`);
    },
  };
}

function mib(n: number): string {
  return (n / 1048576).toFixed(1);
}
