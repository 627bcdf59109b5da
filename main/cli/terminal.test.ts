// Text from hostile files reaches the terminal as visible escapes, never as terminal commands (terminal.ts): a
// tokenizer.json whose bytes carry ESC sequences used to be quoted raw in the CLI's error line by JSON.parse's message.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test, vi } from 'vitest';
import { writeTinyCheckpoint } from '../checkpoint/testing/tiny';
import { main } from './index';
import { forTerminal } from './terminal';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slab-terminal-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('control characters and bidirectional overrides become visible escapes; text, line feeds and tabs stay', () => {
  expect(forTerminal('a\x1b[2Jb\x07c\rd\u009be\u202ef\ng\th é ✓')).toBe('a\\x1b[2Jb\\x07c\\x0dd\\x9be\\u202ef\ng\th é ✓');
  expect(forTerminal('plain: /x/y.json line 3')).toBe('plain: /x/y.json line 3');
});

test("a tokenizer.json carrying ESC sequences: the CLI's error line names it, with the bytes shown, not sent to the terminal", async () => {
  const ckpt = writeTinyCheckpoint(path.join(dir, 'm'), 'llama', { layers: 1 });
  fs.writeFileSync(path.join(ckpt, 'tokenizer.json'), '\x1b]0;pwned\x07\x1b[2J{');
  const err = vi.spyOn(console, 'error').mockImplementation(() => {});
  try {
    expect(await main(['inspect', ckpt])).toBe(1);
    const said = err.mock.calls.map((c) => c.join(' ')).join('\n');
    expect(said).toContain(`${path.join(ckpt, 'tokenizer.json')}: cannot read as JSON`);
    expect(said).toContain('\\x1b[2J');
    expect(said).not.toMatch(/[\x00-\x08\x0b-\x1f]/);
  } finally {
    err.mockRestore();
  }
});
