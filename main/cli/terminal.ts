/**
 * Text from files (a message quoting a damaged tokenizer.json, a checkpoint's name in a session) printed on a terminal:
 * control characters there are commands to the terminal (ESC [ 2 J clears it, others retitle the window or move the
 * cursor), and bidirectional overrides reorder what is shown. They are printed as visible escapes (`\x1b`, `\u202e`);
 * line feeds and tabs stay. JSON output needs none of this (JSON.stringify escapes control characters).
 */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function forTerminal(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}
