// The admin sign-in page: password sign-in against /api/auth/login, and a
// "Sign in with Google" link when the server offers it. No inline script
// (the page's Content-Security-Policy allows only files from 'self').
"use strict";

(function () {
  const DEFAULT_NEXT = "/admin/analytics";

  // Only a local path: one leading "/", not "//" nor "/\" (which browsers
  // treat as another host), no control characters.
  function safeNext(value) {
    if (typeof value !== "string" || value.length === 0 || value.length > 2000) return DEFAULT_NEXT;
    if (value[0] !== "/" || value[1] === "/" || value[1] === "\\") return DEFAULT_NEXT;
    if (/[\u0000-\u001f\u007f]/.test(value)) return DEFAULT_NEXT;
    return value;
  }

  const params = new URLSearchParams(window.location.search);
  const next = safeNext(params.get("next"));

  const form = document.getElementById("login-form");
  const idInput = document.getElementById("login-id");
  const passwordInput = document.getElementById("login-password");
  const errorBox = document.getElementById("login-error");
  const submit = document.getElementById("login-submit");
  let retryTimer = null;

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  // An error passed back by a sign-in redirect (e.g. Google sign-in refused).
  const passedError = params.get("error");
  if (passedError) showError(`Sign-in failed: ${passedError.slice(0, 200)}`);

  function holdSubmit(seconds) {
    clearInterval(retryTimer);
    let left = seconds;
    submit.disabled = true;
    const tick = () => {
      if (left <= 0) {
        clearInterval(retryTimer);
        submit.disabled = false;
        submit.textContent = "Sign in";
        return;
      }
      submit.textContent = `Sign in (wait ${left} s)`;
      left -= 1;
    };
    tick();
    retryTimer = setInterval(tick, 1000);
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError("");
    const id = idInput.value.trim();
    const password = passwordInput.value;
    if (!id || !password) {
      showError("Enter your admin id and password.");
      (id ? passwordInput : idInput).focus();
      return;
    }
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    let res;
    let body = null;
    try {
      res = await fetch("/api/auth/login", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ id, password }),
      });
      try {
        body = await res.json();
      } catch {
        body = null;
      }
    } catch {
      submit.disabled = false;
      submit.removeAttribute("aria-busy");
      showError("Cannot reach the server. Check your connection and try again.");
      return;
    }
    submit.removeAttribute("aria-busy");
    if (res.ok && body && body.ok) {
      window.location.replace(next);
      return;
    }
    submit.disabled = false;
    const message = body && body.error && typeof body.error.message === "string" ? body.error.message : `Sign-in failed (HTTP ${res.status}).`;
    if (res.status === 429) {
      const seconds = parseInt(res.headers.get("retry-after") || "", 10);
      showError(Number.isFinite(seconds) && !message.includes(`${seconds} s`) ? `${message} (retry in ${seconds} s)` : message);
      if (Number.isFinite(seconds) && seconds > 0) holdSubmit(Math.min(seconds, 3600));
    } else {
      showError(message);
      passwordInput.select();
      passwordInput.focus();
    }
  });

  // Google sign-in, when the server has it configured. A server without the
  // providers route (404) has password sign-in only.
  fetch("/api/auth/providers", { credentials: "same-origin", headers: { accept: "application/json" } })
    .then((res) => (res.ok ? res.json() : null))
    .then((providers) => {
      if (providers && providers.google === true) {
        document.getElementById("google-link").href = `/api/auth/google?next=${encodeURIComponent(next)}`;
        document.getElementById("google-signin").hidden = false;
      }
    })
    .catch(() => {});

  (idInput.value ? passwordInput : idInput).focus();
})();
