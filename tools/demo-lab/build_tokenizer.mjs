#!/usr/bin/env node
// Demo lab, step 2: a byte-level BPE tokenizer (vocab 4096) trained on the train split, written as a
// standard HF tokenizer.json, then the train and eval splits tokenized to uint16 token files for
// train.py, and a round-trip check with @huggingface/tokenizers (the pure-JS library the app uses).
//
// Training uses the native HF `tokenizers` npm package (0.23.2, Apache-2.0), installed into the ignored
// tools/demo-lab/work/npm/ (not an app dependency). Its Node binding has no trainer options, so it
// trains with the default BPE trainer (vocab 30000) and we keep the alphabet plus the FIRST 3839 merges:
// BPE merges are learnt greedily in order, so a prefix of the merge list is exactly the BPE that a
// 4096-vocab run would have learnt (same pair counts, same tie-breaking up to that point).
//
// Usage: node tools/demo-lab/build_tokenizer.mjs   (after build_corpus.py)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer as JsTokenizer } from '@huggingface/tokenizers';

const HERE = dirname(fileURLToPath(import.meta.url));
const WORK = join(HERE, 'work');
const CORPUS = join(WORK, 'corpus');
const OUT = join(WORK, 'tokenizer');
const VOCAB = 4096;
const EOT = '<|endoftext|>';
const CONTEXT = 256;

function die(msg) {
  console.error(`build_tokenizer: ${msg}`);
  process.exit(1);
}
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

for (const f of ['train.txt', 'eval.txt']) {
  if (!existsSync(join(CORPUS, f))) die(`${join(CORPUS, f)} is missing: run build_corpus.py first`);
}
const npmDir = join(WORK, 'npm');
if (!existsSync(join(npmDir, 'node_modules/tokenizers'))) {
  mkdirSync(npmDir, { recursive: true });
  execFileSync('npm', ['i', '--prefix', npmDir, '--no-save', '-E', 'tokenizers@0.23.2'], { stdio: 'inherit' });
}
const native = createRequire(join(npmDir, 'package.json'))('tokenizers');
mkdirSync(OUT, { recursive: true });

// GPT-2 byte <-> printable-char table (the ByteLevel alphabet), in byte order so ids 1..256 = bytes.
function bytesToUnicode() {
  const bs = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  const m = new Map(bs.map((b, i) => [b, String.fromCodePoint(cs[i])]));
  return [...Array(256).keys()].map((b) => m.get(b));
}

const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
function skeleton(vocab, merges) {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: 0, content: EOT, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
}

// 1. Train (document separators removed from the training text: the special token is never merged).
const trainText = readFileSync(join(CORPUS, 'train.txt'), 'utf8');
const plain = join(OUT, 'train-plain.txt');
writeFileSync(plain, trainText.split(`\n${EOT}\n`).join('\n\n'));
const trainer = native.Tokenizer.fromString(JSON.stringify(skeleton({}, [])));
trainer.train([plain]);
trainer.save(join(OUT, 'full.json'));
const full = JSON.parse(readFileSync(join(OUT, 'full.json'), 'utf8'));

// 2. Truncate: id 0 = EOT, 1..256 = the 256 bytes, then merges in learnt order.
const alphabet = bytesToUnicode();
const vocab = { [EOT]: 0 };
alphabet.forEach((c, i) => { vocab[c] = i + 1; });
const merges = [];
for (const m of full.model.merges) {
  if (Object.keys(vocab).length >= VOCAB) break;
  const [a, b] = Array.isArray(m) ? m : m.split(' ');
  if (!(a in vocab) || !(b in vocab)) die(`merge ${a} ${b} uses a token not yet in the vocabulary`);
  if (a + b in vocab) continue;
  vocab[a + b] = Object.keys(vocab).length;
  merges.push([a, b]);
}
if (Object.keys(vocab).length !== VOCAB) die(`only ${Object.keys(vocab).length} tokens after all merges`);
const tokJson = JSON.stringify(skeleton(vocab, merges));
writeFileSync(join(OUT, 'tokenizer.json'), tokJson);
const tokConfig = { tokenizer_class: 'PreTrainedTokenizerFast', model_max_length: CONTEXT, bos_token: null,
  eos_token: EOT, unk_token: null, pad_token: null, add_bos_token: false, add_eos_token: false,
  clean_up_tokenization_spaces: false };
writeFileSync(join(OUT, 'tokenizer_config.json'), JSON.stringify(tokConfig, null, 2));

// 3. Tokenize with the native library; documents joined by EOT (train.py sees one stream).
const tok = native.Tokenizer.fromString(tokJson);
async function encodeDocs(docs) {
  const ids = [];
  for (let i = 0; i < docs.length; i += 256) {
    const encs = await tok.encodeBatch(docs.slice(i, i + 256), { addSpecialTokens: false });
    for (const e of encs) { ids.push(0); for (const x of e.getIds()) ids.push(x); }
  }
  return Uint16Array.from(ids);
}
const trainIds = await encodeDocs(trainText.split(`\n${EOT}\n`));
const evalText = readFileSync(join(CORPUS, 'eval.txt'), 'utf8');
const evalIds = await encodeDocs([evalText]);
writeFileSync(join(OUT, 'train.u16'), Buffer.from(trainIds.buffer));
writeFileSync(join(OUT, 'eval.u16'), Buffer.from(evalIds.buffer));

// 4. Check with the app's library: same ids as native on the eval text, and decode(encode(x)) == x.
const js = new JsTokenizer(JSON.parse(tokJson), tokConfig);
const jsIds = js.encode(evalText, { add_special_tokens: false }).ids;
const nativeEval = Array.from(evalIds.subarray(1));
if (jsIds.length !== nativeEval.length || jsIds.some((x, i) => x !== nativeEval[i])) {
  die(`@huggingface/tokenizers and native tokenizers disagree on eval.txt (${jsIds.length} vs ${nativeEval.length} ids)`);
}
const back = js.decode(jsIds, { skip_special_tokens: false });
if (back !== evalText) die('decode(encode(eval.txt)) differs from eval.txt');
const sample = 'Héllo — “naïve” café 日本 🙂 <|endoftext|> x\n\ttab';
const sIds = js.encode(sample, { add_special_tokens: false }).ids;
if (js.decode(sIds, { skip_special_tokens: false }) !== sample) die('round trip of the unicode sample failed');

const report = {
  vocab: VOCAB, merges: merges.length,
  train_tokens: trainIds.length, eval_tokens: evalIds.length,
  eval_bytes_per_token: +(Buffer.byteLength(evalText) / (evalIds.length - 1)).toFixed(3),
  sha256: Object.fromEntries(['tokenizer.json', 'tokenizer_config.json', 'train.u16', 'eval.u16']
    .map((f) => [f, sha256(readFileSync(join(OUT, f)))])),
  js_roundtrip: 'ok (eval.txt ids identical to native, decode exact, unicode sample exact)',
};
writeFileSync(join(OUT, 'report.json'), JSON.stringify(report, null, 1));
console.log(JSON.stringify(report, null, 1));
