// Signal subscription (process.on), kept in one place so callers can be tested and swapped.

export type SignalName = "SIGINT" | "SIGTERM" | "SIGHUP";

/** Call `fn` on each of `signals`; returns a function that unsubscribes. */
export function onSignals(signals: SignalName[], fn: (sig: SignalName) => void): () => void {
  const handlers = signals.map((s) => {
    const h = () => fn(s);
    process.on(s, h);
    return [s, h] as const;
  });
  return () => {
    for (const [s, h] of handlers) process.off(s, h);
  };
}
