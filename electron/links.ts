/**
 * Which external links the window may hand to the operating system (shell.openExternal). Pure: no electron
 * import, so it is unit-tested (test/unit/electron-shell.test.ts). Anything else a page asks to open is denied.
 */
export const EXTERNAL_LINK_HOSTS = ['arxiv.org', 'github.com', 'huggingface.co', 'onnxruntime.ai', 'www.electronjs.org'] as const;

export function isAllowedExternalLink(raw: string): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.protocol !== 'https:' || url.username || url.password || url.port) return false;
  return (EXTERNAL_LINK_HOSTS as readonly string[]).includes(url.hostname);
}

/**
 * The dev-server URL is honoured only in an unpackaged build run from the source tree: a packaged app never
 * loads a page named by an environment variable.
 */
export function devServerUrl(isPackaged: boolean, env: Record<string, string | undefined>): string | undefined {
  if (isPackaged) return undefined;
  const u = env.SPARSITY_LAB_DEV_URL;
  if (!u) return undefined;
  try {
    const url = new URL(u);
    return url.protocol === 'http:' && (url.hostname === '127.0.0.1' || url.hostname === 'localhost') ? url.href : undefined;
  } catch {
    return undefined;
  }
}
