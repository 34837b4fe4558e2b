// Signal subscription (process.on), kept in one place so callers can be tested and swapped,
// and the signal names PicoFlow reacts to.

/** Signals whose default action would end the process without a word: each is handled. */
export type SignalName = "SIGINT" | "SIGTERM" | "SIGHUP" | "SIGUSR1" | "SIGUSR2" | "SIGALRM";

/**
 * Signals nobody should send PicoFlow, but something may (a misdirected `kill -USR1`, a
 * `pkill` aimed at another program). Left to their default they kill the process with no
 * record: `run` treats them like SIGTERM, the daemon logs and ignores them.
 */
export const STRAY_SIGNALS: readonly SignalName[] = ["SIGUSR1", "SIGUSR2", "SIGALRM"];

/** Signals that stop `picoflow run` (record what ran, exit 9). */
export const RUN_STOP_SIGNALS: readonly SignalName[] = ["SIGINT", "SIGTERM", "SIGHUP", ...STRAY_SIGNALS];

/** Call `fn` on each of `signals`; returns a function that unsubscribes. */
export function onSignals(signals: readonly SignalName[], fn: (sig: SignalName) => void): () => void {
  const handlers = signals.map((s) => {
    const h = () => fn(s);
    process.on(s, h);
    return [s, h] as const;
  });
  return () => {
    for (const [s, h] of handlers) process.off(s, h);
  };
}
