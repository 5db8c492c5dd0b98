import { useEffect, useRef, useState } from "react";
import { NavLink, Navigate, Route, Routes, useLocation } from "react-router-dom";
import { getToken, setToken } from "./api";
import LoginPage from "./pages/LoginPage";
import { AUTH, ENTITIES, TITLE } from "./spec";
import { PAGES } from "./pages";

/** The header with the app's title, a link to each entity's page (the
 * current one marked) and, with auth, a log out button; the page under it. */
export default function App() {
  const [loggedIn, setLoggedIn] = useState(() => !AUTH || getToken() !== null);
  const nav = useRef<HTMLElement>(null);
  const { pathname } = useLocation();
  useEffect(() => {
    // On a phone the navigation scrolls sideways: keep the current page in sight.
    nav.current?.querySelector(".active")?.scrollIntoView?.({ block: "nearest", inline: "nearest" });
  }, [pathname, loggedIn]);
  if (!loggedIn) return <LoginPage onLogin={() => setLoggedIn(true)} />;
  return (
    <div className="app">
      <header className="topbar">
        <div className="topbar-inner">
          <h1 className="brand">{TITLE}</h1>
          <nav className="nav" aria-label="Main" ref={nav}>
            {ENTITIES.map((e) => (
              <NavLink
                key={e.plural}
                to={`/${e.plural}`}
                className={({ isActive }) => (isActive ? "nav-link active" : "nav-link")}
              >
                {e.label}
              </NavLink>
            ))}
          </nav>
          {AUTH && (
            <button
              type="button"
              className="btn btn-on-dark"
              onClick={() => {
                setToken(null);
                setLoggedIn(false);
              }}
            >
              Log out
            </button>
          )}
        </div>
      </header>
      <main className="content">
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
