// One JSON call to a running insightd with Node's fetch: the status, the
// headers and the parsed body (null when empty or not JSON).
export async function call(url, path, { method = "GET", body, headers = {} } = {}) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, body: json };
}
