// The JSON shapes the dashboard reads from the API (docs/api.md). Types only: nothing here is
// bundled.

/** GET /api/v1/session: what this visitor may do. */
export interface Session {
  /** A token is configured: every request needs it (cookie from the login form, or Bearer). */
  auth_required: boolean;
  /** This request carried the right token. */
  authenticated: boolean;
  /** Actions (trigger, retry, pause, resume) can work: a daemon serves this, and a token is configured. */
  actions: boolean;
  /** `picoflow dashboard`: a database without a daemon; no actions, no live daemon state. */
  read_only: boolean;
}
