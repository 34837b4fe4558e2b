// The login form: shown when the server has a web token and this browser has not given it yet
// (or any request answered 401). POST /api/v1/login sets an HttpOnly cookie, so the page's code
// never keeps the token: it only sends it once.

import { useState } from "preact/hooks";
import { ApiError, html, postJson } from "../lib.ts";
import "./login.css";

export function Login({ onDone }: { onDone: () => void }) {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await postJson("/api/v1/login", { token });
      setToken("");
      onDone();
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? "wrong token" : err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return html`<form class="login" onSubmit=${submit}>
    <h1>Log in</h1>
    <p class="muted">This dashboard needs its web token (<code>[web] token</code> or <code>PICOFLOW_WEB_TOKEN</code> on the server). The browser keeps it in a cookie.</p>
    <label for="token">Web token</label>
    <input
      id="token"
      name="token"
      type="password"
      autocomplete="current-password"
      required
      autofocus
      value=${token}
      onInput=${(e: Event) => setToken((e.currentTarget as HTMLInputElement).value)}
      aria-invalid=${error ? "true" : undefined}
      aria-describedby=${error ? "login-error" : undefined}
    />
    <button type="submit" class="primary" disabled=${busy}>Log in</button>
    ${error ? html`<p id="login-error" class="error" role="alert">${error}</p>` : null}
  </form>`;
}
