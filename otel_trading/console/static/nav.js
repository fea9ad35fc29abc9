// In-console navigation without a reload; app.js registers the router at start.

let navigator = (path) => window.location.assign(path);

export function setNavigator(navigate) {
  navigator = navigate;
}

export function go(path) {
  navigator(path);
}
