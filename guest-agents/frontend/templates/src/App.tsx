import { useState } from "react";
import { Link, Navigate, Route, Routes } from "react-router-dom";
import { getToken, setToken } from "./api";
import LoginPage from "./pages/LoginPage";
import { AUTH, ENTITIES, TITLE } from "./spec";
import { PAGES } from "./pages";

export default function App() {
  const [loggedIn, setLoggedIn] = useState(() => !AUTH || getToken() !== null);
  if (!loggedIn) return <LoginPage onLogin={() => setLoggedIn(true)} />;
  return (
    <div className="app">
      <header>
        <h1>{TITLE}</h1>
        <nav>
          {ENTITIES.map((e) => (
            <Link key={e.plural} to={`/${e.plural}`}>
              {e.label}
            </Link>
          ))}
          {AUTH && (
            <button
              type="button"
              onClick={() => {
                setToken(null);
                setLoggedIn(false);
              }}
            >
              Log out
            </button>
          )}
        </nav>
      </header>
      <main>
        <Routes>
          {ENTITIES.map((e) => {
            const Page = PAGES[e.plural];
            return <Route key={e.plural} path={`/${e.plural}`} element={<Page />} />;
          })}
          <Route path="*" element={<Navigate to={`/${ENTITIES[0].plural}`} replace />} />
        </Routes>
      </main>
    </div>
  );
}
