// The dashboard's static files: the page (src/web/ui/index.html), its bundled JS (Preact + htm,
// src/web/ui/app.ts), its CSS and icon, answered from a plain fetch handler.
//
// `import page from "./ui/index.html"` is a Bun HTML import. `bun build --compile` bundles the
// page at build time and embeds the output in the binary (under /$bunfs/root), listing it in
// `page.files`: nothing has to sit next to the binary. Run from source there is no such list,
// so the page is bundled once, in memory, on the first request.
//
// Why a fetch handler and not `Bun.serve({ routes: { "/": page } })`: route responses bypass
// the server's fetch handler, so they would miss the security headers the daemon's server adds
// to every response (Content-Security-Policy and the rest, src/sys/http-server.ts). And nothing
// is read or bundled until somebody asks: an unvisited dashboard costs no memory.

import page from "./ui/index.html";

interface Asset {
  body: Blob;
  headers: Record<string, string>;
}

/** URL path ("/", "/chunk-1a2b.js", ...) to the file answering it. */
type AssetMap = Map<string, Asset>;

let assets: Promise<AssetMap> | undefined;

/**
 * Answer a GET/HEAD request for the dashboard's page or one of its files, or null when the path
 * is none of them (the caller answers 404, or serves its own routes).
 */
export async function serveDashboard(req: Request): Promise<Response | null> {
  if (req.method !== "GET" && req.method !== "HEAD") return null;
  const path = new URL(req.url).pathname;
  // A failed bundle (from source only) is not kept: the next request tries again.
  assets ??= loadAssets().catch((err) => {
    assets = undefined;
    throw err;
  });
  const asset = (await assets).get(path === "/index.html" ? "/" : path);
  if (!asset) return null;
  if (req.headers.get("if-none-match") === asset.headers.etag) return new Response(null, { status: 304, headers: asset.headers });
  return new Response(req.method === "HEAD" ? null : asset.body, { headers: asset.headers });
}

async function loadAssets(): Promise<AssetMap> {
  const map: AssetMap = new Map();
  if (page.files) {
    // Compiled: the files Bun embedded, read from the binary when answered.
    for (const f of page.files) {
      const key = f.path === page.index ? "/" : `/${f.path.slice(f.path.lastIndexOf("/") + 1)}`;
      map.set(key, { body: Bun.file(f.path), headers: { ...f.headers, "cache-control": cacheControl(key) } });
    }
    return map;
  }
  // From source: bundle like the compiled build does (minified, for browsers).
  const out = await Bun.build({ entrypoints: [page.index], target: "browser", minify: true });
  if (!out.success) throw new Error(`dashboard bundle failed: ${out.logs.map(String).join("; ")}`);
  for (const o of out.outputs) {
    const key = o.kind === "entry-point" && o.path.endsWith(".html") ? "/" : `/${o.path.replace(/^\.\//, "")}`;
    map.set(key, { body: o, headers: { "content-type": o.type, etag: o.hash ?? String(o.size), "cache-control": cacheControl(key) } });
  }
  return map;
}

/** Hashed file names never change content; the page itself must be re-checked to pick up a new build. */
function cacheControl(key: string): string {
  return key === "/" ? "no-cache" : "public, max-age=31536000, immutable";
}
