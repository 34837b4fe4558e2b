// Program errors. Each carries the exit code from the spec's table; only main.ts prints them.

export class PicoflowError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Exit 2: a workflow file that is not valid. `problems` holds one line per finding. */
export class ValidationError extends PicoflowError {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"), 2);
  }
}

/** Exit 3: the workflow ran and failed. */
export class ExecutionError extends PicoflowError {
  constructor(message: string) {
    super(message, 3);
  }
}

/** Exit 4: a bad configuration file or bad command-line arguments. */
export class ConfigError extends PicoflowError {
  constructor(message: string) {
    super(message, 4);
  }
}

/** Exit 5: a file that is missing, unreadable, or not a file. */
export class IoError extends PicoflowError {
  constructor(message: string) {
    super(message, 5);
  }
}

/** Exit 6: the database cannot be opened, read or written. */
export class DatabaseError extends PicoflowError {
  constructor(message: string) {
    super(message, 6);
  }
}

/** Exit 7: a connection failed. */
export class NetworkError extends PicoflowError {
  constructor(message: string) {
    super(message, 7);
  }
}

/** Exit 8: an operation of PicoFlow itself timed out. */
export class TimeoutError extends PicoflowError {
  constructor(message: string) {
    super(message, 8);
  }
}

/** Exit 9: stopped by SIGINT or SIGTERM. */
export class InterruptedError extends PicoflowError {
  constructor(message: string) {
    super(message, 9);
  }
}

/** Exit code for any thrown value: ours carry one, anything else is a general error (1). */
export function exitCodeOf(err: unknown): number {
  return err instanceof PicoflowError ? err.exitCode : 1;
}

export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
