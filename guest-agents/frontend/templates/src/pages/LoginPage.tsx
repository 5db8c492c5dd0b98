import { type FormEvent, useState } from "react";
import { api } from "../api";
import { message } from "../useEntity";
import { TITLE } from "../spec";

/** Log in, or register and log in, with an email and a password. */
export default function LoginPage({ onLogin }: { onLogin: () => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent, register: boolean) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (register) await api.register(email, password);
      await api.login(email, password);
      onLogin();
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login-screen">
      <p className="login-brand">{TITLE}</p>
      <form className="card login" onSubmit={(e) => submit(e, false)}>
        <h2>Log in</h2>
        <div className="field">
          <label htmlFor="login-email">Email</label>
          <input
            id="login-email"
            type="email"
            autoComplete="email"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            required
          />
        </div>
        <div className="field">
          <label htmlFor="login-password">Password</label>
          <input
            id="login-password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            minLength={8}
            required
          />
          <p className="field-hint">At least 8 characters.</p>
        </div>
        {error && (
          <div role="alert" className="alert">
            {error}
          </div>
        )}
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? "Please wait…" : "Log in"}
          </button>
          <button type="button" className="btn btn-secondary" disabled={busy} onClick={(e) => submit(e, true)}>
            Register
          </button>
        </div>
      </form>
    </main>
  );
}
