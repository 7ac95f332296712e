// The staff pages' entry: sign-in (authorization code with PKCE, at Cognito's hosted UI on AWS and
// at /_local/ locally), the routes and the frame (navigation, language, sign-out).
import {
  api,
  config,
  errorBox,
  fill,
  forgetSession,
  h,
  isManager,
  lang,
  link,
  loadMessages,
  saveSession,
  savedLang,
  session,
  setLang,
  setMe,
  setNavigator,
  setOnExpired,
  t,
  whoami,
} from "./core.js";

// path pattern -> view module (view-<name>.js, with messages-<name>.json) and who may open it
const ROUTES = [
  ["/staff", "queue", "staff"],
  ["/staff/queue", "queue", "staff"],
  ["/staff/cases/:id", "case", "staff"],
  ["/staff/cases", "cases", "manager"],
  ["/staff/taxonomy", "taxonomy", "manager"],
  ["/staff/directory", "directory", "manager"],
  ["/staff/directory/:id", "directory", "manager"],
  ["/staff/contacts", "contacts", "manager"],
  ["/staff/contacts/:id", "contacts", "manager"],
  ["/staff/imports/:id", "contacts", "manager"],
  ["/staff/waves", "waves", "manager"],
  ["/staff/waves/:id", "waves", "manager"],
  ["/staff/quarantine", "quarantine", "manager"],
];

const NAV = [
  ["/staff", "nav.queue", "staff"],
  ["/staff/cases", "nav.cases", "manager"],
  ["/staff/waves", "nav.waves", "manager"],
  ["/staff/contacts", "nav.contacts", "manager"],
  ["/staff/taxonomy", "nav.taxonomy", "manager"],
  ["/staff/directory", "nav.directory", "manager"],
  ["/staff/quarantine", "nav.quarantine", "manager"],
];

const RETURN_KEY = "closeloop.return_to";
const PKCE_KEY = "closeloop.pkce";

function match(pathname) {
  const path = pathname.replace(/\/+$/, "") || "/staff";
  for (const [pattern, view, audience] of ROUTES) {
    const names = [];
    const regex = new RegExp(
      `^${pattern.replace(/:(\w+)/g, (_, name) => {
        names.push(name);
        return "([^/]+)";
      })}$`,
    );
    const found = regex.exec(path);
    if (found) {
      const params = {};
      names.forEach((name, index) => {
        params[name] = decodeURIComponent(found[index + 1]);
      });
      return { view, audience, params };
    }
  }
  return null;
}

// ------------------------------------------------------------------ sign-in
function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

async function signIn() {
  sessionStorage.setItem(RETURN_KEY, location.pathname + location.search);
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(48)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(24)));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
  const url = new URL(`${config.signInUrl}/oauth2/authorize`);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    scope: "openid email profile",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
    lang: lang(),
  }).toString();
  location.assign(url.toString());
}

async function finishSignIn() {
  const query = new URLSearchParams(location.search);
  const saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
  sessionStorage.removeItem(PKCE_KEY);
  if (!saved || !query.get("code") || query.get("state") !== saved.state) {
    throw new Error(t("signin.failed"));
  }
  const response = await fetch(`${config.signInUrl}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.clientId,
      code: query.get("code"),
      redirect_uri: config.redirectUri,
      code_verifier: saved.verifier,
    }),
  });
  if (!response.ok) throw new Error(t("signin.failed"));
  const tokens = await response.json();
  saveSession(tokens.id_token, tokens.expires_in);
  const back = sessionStorage.getItem(RETURN_KEY) || "/staff";
  sessionStorage.removeItem(RETURN_KEY);
  history.replaceState({}, "", back.startsWith("/staff") && !back.startsWith("/staff/callback") ? back : "/staff");
}

function signOut() {
  forgetSession();
  const url = new URL(`${config.signInUrl}/logout`);
  url.search = new URLSearchParams({ client_id: config.clientId, logout_uri: config.signedOutUri }).toString();
  location.assign(url.toString());
}

// ------------------------------------------------------------------ frame
function renderFrame() {
  const header = document.getElementById("top");
  const me = whoami();
  const here = location.pathname.replace(/\/+$/, "") || "/staff";
  const items = NAV.filter(([, , audience]) => audience === "staff" || isManager()).map(([path, key]) => {
    const current = path === "/staff" ? here === "/staff" || here === "/staff/queue" : here.startsWith(path);
    const anchor = link(path, t(key));
    if (current) anchor.setAttribute("aria-current", "page");
    return h("li", {}, anchor);
  });
  const other = lang() === "fr" ? "en" : "fr";
  fill(
    header,
    h("p", { class: "brand" }, link("/staff", "closeloop")),
    h("nav", { "aria-label": t("nav.label") }, h("ul", {}, items)),
    h(
      "div",
      { class: "account" },
      me ? h("span", { class: "who" }, me.name || me.email) : null,
      h(
        "button",
        {
          type: "button",
          class: "link",
          lang: other,
          "aria-label": t("lang.switch_label"),
          onclick: () => {
            setLang(other);
            render();
          },
        },
        t("lang.other"),
      ),
      h("button", { type: "button", class: "link", onclick: signOut }, t("signout")),
    ),
  );
  header.hidden = false;
  document.getElementById("skip").textContent = t("skip");
}

let rendering = 0;
async function render(options = {}) {
  const main = document.getElementById("main");
  const ticket = ++rendering;
  const found = match(location.pathname);
  renderFrame();
  main.setAttribute("aria-busy", "true");
  try {
    if (!found) {
      fill(main, h("h1", { id: "page-title", tabindex: "-1" }, t("notfound.title")), h("p", {}, link("/staff", t("nav.queue"))));
    } else if (found.audience === "manager" && !isManager()) {
      fill(main, h("h1", { id: "page-title", tabindex: "-1" }, t("forbidden.title")), h("p", {}, t("forbidden.text")));
    } else {
      await loadMessages(found.view);
      const module = await import(`./view-${found.view}.js`);
      if (ticket !== rendering) return;
      const query = Object.fromEntries(new URLSearchParams(location.search));
      await module.render({ main, params: found.params, query, path: location.pathname, rerender: render });
    }
  } catch (error) {
    if (ticket !== rendering) return;
    fill(main, h("h1", { id: "page-title", tabindex: "-1" }, t("error.title")), errorBox(error));
  } finally {
    if (ticket === rendering) main.setAttribute("aria-busy", "false");
  }
  if (ticket === rendering && options.focus !== false) {
    const title = document.getElementById("page-title");
    if (title && options.focus === "title") title.focus();
  }
}

function navigate(path, options = {}) {
  if (options.replace) history.replaceState({}, "", path);
  else history.pushState({}, "", path);
  window.scrollTo(0, 0);
  render({ focus: "title" });
}

function signedOutPage() {
  const main = document.getElementById("main");
  document.getElementById("top").hidden = true;
  fill(
    main,
    h("h1", { id: "page-title", tabindex: "-1" }, t("signedout.title")),
    h("p", {}, t("signedout.text")),
    h("p", {}, h("button", { type: "button", class: "primary", onclick: () => navigate("/staff") }, t("signin"))),
  );
  main.setAttribute("aria-busy", "false");
}

async function boot() {
  // the person's own choice, else (once signed in) their language in the directory, else the browser's
  setLang(savedLang() || document.documentElement.lang || "en");
  await loadMessages("core");
  setNavigator(navigate);
  setOnExpired(() => {
    forgetSession();
    signIn();
  });
  window.addEventListener("popstate", () => render({ focus: "title" }));
  const path = location.pathname.replace(/\/+$/, "");
  if (path === "/staff/signed-out") {
    signedOutPage();
    return;
  }
  if (path === "/staff/callback") {
    try {
      await finishSignIn();
    } catch (error) {
      const main = document.getElementById("main");
      fill(
        main,
        h("h1", { id: "page-title", tabindex: "-1" }, t("error.title")),
        errorBox(error),
        h("p", {}, h("button", { type: "button", class: "primary", onclick: () => signIn() }, t("signin"))),
      );
      main.setAttribute("aria-busy", "false");
      return;
    }
  }
  if (!session()) {
    await signIn();
    return;
  }
  try {
    const me = await api("GET", "/me");
    setMe(me);
    if (!savedLang() && me.language) setLang(me.language);
  } catch (error) {
    const main = document.getElementById("main");
    fill(main, h("h1", { id: "page-title", tabindex: "-1" }, t("error.title")), errorBox(error));
    main.setAttribute("aria-busy", "false");
    return;
  }
  await render();
}

boot();
