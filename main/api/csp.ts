/**
 * The Content-Security-Policy of the renderer page, one definition for both hosts: browser mode sends it
 * as a response header (main/server), Electron sets it on its session (electron/main.ts), and
 * renderer/index.html repeats it in a <meta> tag because Electron does not apply response headers to the
 * file:// page a packaged build loads. A test checks the three agree.
 */
export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' ws://127.0.0.1:*; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** The same policy for a <meta> tag, which cannot carry frame-ancestors (browsers ignore it there with a warning). */
export const CSP_META = CSP.replace(/; frame-ancestors 'none'$/, '');
