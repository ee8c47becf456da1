#!/usr/bin/env python3
"""Writes tests/data/vocab-{gpt-4o,tekken}.{inp,out,splits}.

The token ids (.out) are llama.cpp's, from llama-tokenize, on GPT-2's
vocabulary and merges (../shared/vocab/ggml-vocab-gpt-2.gguf) with only
`tokenizer.ggml.pre` changed to "gpt-4o" or "tekken", so the GPT-4o and tekken
pre-tokenizers can be tested without the large vocabularies of the models that
use them. The .splits files hold, per string, the byte lengths of the pieces
llama.cpp's pre-tokenizer cuts it into (tests/tools/llama_cpp_pretok.cpp, run
with the expressions that llama.cpp's src/llama-vocab.cpp gives these two
pre-tokenizers, read from that file): GPT-2's tokens rarely cross the cuts these
pre-tokenizers make in non-ASCII text, so the ids alone would not show them.
The strings are those of ../shared/vocab/*.inp followed by STRINGS below. Not
part of the build; see tests/data/vocab-pre.SOURCE.md:

  python3 tests/tools/vocab_pre_vectors.py --llama $LLAMA --pretok ./llama_cpp_pretok \\
      --shared ../shared [--out tests/data] [--compare]

--compare also tokenizes the strings with ../shared's gpt-2 and llama-bpe
files and prints, per pair of pre-tokenizers, how many strings get different
ids. The variant files are written to a temporary folder and deleted. Standard
library only. (llama-tokenize parses --override-kv but does not apply it, so
the pre-tokenizer is changed in a rewritten file instead.)
"""
import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile

SEP = "\n__ggml_vocab_test__\n"

# Aimed at the GPT-4o / tekken expressions as llama.cpp runs them: letter runs
# split at case changes, non-ASCII letters, marks, contractions, digit groups,
# punctuation followed by \r \n /, whitespace runs, symbols.
STRINGS = [
    # case changes in ASCII (a GPT-2 token across a lower-upper change shows the cut in the ids)
    "HTTPServer",
    "iPhone",
    "McDONALD's",
    "camelCaseString PascalCaseString",
    "XMLHttpRequest getHTTPResponseCode parseJSON2XML",
    "ABC",
    "A",
    "aBC",
    "ABCdef GHI jkl MNo",
    " HTTPServer iPhone eBay",
    "snake_case_VARIABLE = CONSTANT_NAME;",
    "IOError ValueError",
    "YouTube",
    " McDonald PlayStation WiFi jQuery",
    " macOS MySQL GitHub eBay iOS PayPal SpaceX",
    "PostgreSQL realDonaldTrump SolidGoldMagikarp",
    " guiActiveUnfocused kWh mRNA PhD",
    # non-ASCII letters: no case in llama.cpp's collapsed text
    "\u00c9COLE",
    "\u00c9cole",
    "\u00e9COLE",
    "\u00c9COLEs",
    "na\u00efve caf\u00e9 NA\u00cfVE CAF\u00c9",
    "Stra\u00dfe STRASSE \u00df \u1e9e",
    "\u00c0\u00c9\u00ce\u00d5\u00dc \u00e0\u00e9\u00ee\u00f5\u00fc",
    "A\u00c9B AB\u00c9 \u00c9AB a\u00c9B \u00c9\u00c9a",
    "HTTP\u00c9cole HTTP\u00e9cole HTTP\u00c9COLE",
    "x" + "\u00c9" * 40 + "COLE " + "\u00e9" * 30 + "A" * 30,
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u0391\u0398\u0397\u039d\u0391 \u03b1\u03b8\u03ae\u03bd\u03b1 "
    "\u0391\u0392\u0393Def",
    "\u041f\u0440\u0438\u0432\u0435\u0442 \u041c\u0418\u0420 \u043c\u0438\u0440 \u041f\u0420\u0418\u0412\u0415\u0422world",
    "\u01c5emal \u01c8 \u01cb k\u02b0a \u4eba\u3005",
    "\uff21\uff22\uff23\u5168\u89d2\uff41\uff42\uff43 \uff21bc",
    "\U0001d407\U0001d41e\U0001d425\U0001d425\U0001d428 \U0001d499 \U00010400\U00010428",
    # combining marks (\p{M}) are not letters in llama.cpp's expression
    "e\u0301",
    "cafe\u0301 CAFE\u0301S",
    "e\u0301e\u0301",
    " \u0301a",
    "\u0301\u0301",
    "a\u0308\u0304b",
    "x \u0301 y",
    "\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e",
    "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
    "1\ufe0f\u20e3 #\ufe0f\u20e3",
    # CJK, kana, Hangul, right-to-left scripts mixed with ASCII
    "\u6211\u60f3\u5728apple\u5de5\u4f5c",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u30ab\u30bf\u30ab\u30ca\u3001\u3072\u3089\u304c\u306a\u3002",
    "\u6771\u4eacTower \u6771\u4eactower",
    "\u4e2d\u6587English\u6df7\u5408Text",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4",
    "\uc548\ub155\ud558\uc138\uc694World",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 \u05e9\u05dc\u05d5\u05dd",
    # CJK Extension I (Unicode 15.1, letters in llama.cpp's table; utf8proc
    # 2.8 has Unicode 15.0) and 15.1's new symbols
    "x\U0002ebf0y \U0002ebf0\U0002ee5dabc 12\U0002ec00",
    "\U0002ee5d! ?\U0002ebf0 'S\U0002ebf0 \U0002ebefA\U0002ee5eB",
    " \u2ffc\u2fff\u31ef x\u31efY",
    # contractions: GPT-4o keeps them on the word before, tekken has none,
    # Llama 3 takes them first wherever an apostrophe is
    "DON'T don't",
    "it's IT'S It'S",
    "I'LL i'll I'M we'VE You'Re she'D",
    "'s 'S start 'll",
    " 's",
    "o'clock rock'n'roll ma'am",
    "'" * 3,
    "it''s x' 'x",
    "l'\u00e9t\u00e9 L'\u00c9T\u00c9 \u00c9T\u00c9'S \u00e9t\u00e9's",
    "don\u2019t it\u2019s",
    "y'all'll've",
    "HTTP's iPhone's ABC'd",
    "123's 'tis",
    "'very",
    "'self 'day 'thing 'stand",
    "x'very",
    "it'self we'day she'thing",
    "you'ress they'vers o'ment",
    "x'man y'day",
    # digits: \p{N}{1,3} in GPT-4o, \p{N} in tekken
    "1234567890",
    "x1234567890y",
    "3.14159 1,000,000 v1.2.3-rc4 0x1F",
    "2024-01-15T10:30:00Z",
    "\u0661\u0662\u0663\u0664\u0665\u0666\u0667",
    "\uff11\uff12\uff13\uff14",
    "abc\u0661\u0662\u0663def 1\u06623\uff145",
    "x\u00b2\u00b3 \u00bd \u216b \u2177 \u2460\u2461\u2462\u2463",
    "12abc34 ABC123def",
    " 42 a1 A1 \u00e91",
    # punctuation followed by \r \n and /
    "a.//b",
    "?!/\n",
    "?!\n/",
    "}\n//comment",
    "}\n/* x */",
    ")\n/** doc */",
    "end.\r\n/*next",
    "x;\r\n\r\n/y",
    "http://example.com/path?q=1&r=2",
    "// comment\n/* block */",
    "../../etc/passwd",
    "a/\nb",
    " /\n/\n/x",
    ".\n\n\n/",
    "!\r/",
    "\\/\\/",
    " .\n",
    # whitespace
    "a\r\nb",
    "a\r\n\r\nb",
    "\r\n",
    "\r",
    "\r\r\n\n",
    " \r\n ",
    "  \r\n\t\r\n  x",
    "\t\tindent \tfoo",
    "a \t b",
    "a\u00a0b a\u00a0\u00a0b \u00a0x \u00a0ABC",
    "a\u3000b \u5168\u89d2\u3000\u30b9\u30da\u30fc\u30b9 \u3000\u3000x",
    "trailing   ",
    "trailing \n",
    "  \n  x",
    " .",
    "  .. x",
    "\n.",
    "\t...",
    "\u00a0..",
    " !x",
    "a \u2003b",
    "x\u2028y",
    "x\u0085y",
    "a\x0bb\x0cc \x0bfoo",
    "a\x1cb\x1fc",
    "a\x01\x02b\x7f",
    # symbols, emoji, format and unassigned code points
    "\U0001f999\U0001f999 llama",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family",
    "\u2605\u2606 \u2660\u2665 \u20ac100 \u00a35 \u00a5",
    "\u2192 \u2190 \u2194 \u2200x\u2208\u211d",
    "\u00a9\u00ae\u2122 \u00b0C \u03a3\u2211",
    "\U0001f600x x\U0001f600 \U0001f600",
    "\u2705done",
    "a\u200bb \ufeffBOM soft\u00adhyphen",
    "\ue000x \u0378y \ufffd",
    # code and prose
    "def f(x):\n\treturn x**2  # COMMENT\n",
    "if (a && b) { return -1; }",
    "<div class=\"x\">Hello</div>",
    "SELECT * FROM users WHERE id=42;",
    "#include <stdio.h>\r\nint main(void){return 0;}",
    "The QUICK brown fox's JUMPS: 12345 times! \u00c9t\u00e9 2024, na\u00efvet\u00e9 \u2014 \u201cquoted\u201d...",
    # GPT-4o, tekken, Llama 3 and GPT-2 each give these different ids
    " iPhone 2024 x'very",
    "My iPhone 12345's x'very 'self",
    "YouTube 2024: it'self",
    "\n",
    "",
]


def rewrite_pre(data, pre):
    """The GGUF v3 file `data` with the string value of tokenizer.ggml.pre replaced."""
    magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", data, 0)
    if magic != b"GGUF" or version != 3:
        raise ValueError("not a GGUF v3 file")
    scalar = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    off = 24

    def string_end(o):
        (n,) = struct.unpack_from("<Q", data, o)
        return o + 8 + n

    for _ in range(n_kv):
        key_end = string_end(off)
        key = data[off + 8:key_end]
        (vtype,) = struct.unpack_from("<I", data, key_end)
        val = key_end + 4
        if vtype == 8:
            end = string_end(val)
            if key == b"tokenizer.ggml.pre":
                new = pre.encode("utf-8")
                return data[:val] + struct.pack("<Q", len(new)) + new + data[end:]
        elif vtype == 9:
            atype, n = struct.unpack_from("<IQ", data, val)
            end = val + 12
            if atype == 8:
                for _ in range(n):
                    end = string_end(end)
            else:
                end += scalar[atype] * n
        else:
            end = val + scalar[vtype]
        off = end
    raise ValueError("no tokenizer.ggml.pre string")


def tokenize(llama_bin, model, text, tmp, bos=False):
    """llama.cpp's ids for `text` (special tokens not parsed; BOS only if asked and the vocabulary adds one)."""
    path = os.path.join(tmp, "prompt.txt")
    with open(path, "wb") as f:
        f.write(text.encode("utf-8"))
    env = dict(os.environ, LD_LIBRARY_PATH=llama_bin)
    cmd = [os.path.join(llama_bin, "llama-tokenize"), "-m", model, "-f", path, "--ids",
           "--no-parse-special", "--no-escape", "--log-disable"] + ([] if bos else ["--no-bos"])
    out = subprocess.run(cmd, env=env, check=True, capture_output=True).stdout.decode()
    line = [l for l in out.splitlines() if l.startswith("[")][-1]
    return [int(x) for x in line.strip("[]").split(",") if x.strip()]


def c_string(lit):
    """The value of a C string literal's body (the escapes llama-vocab.cpp uses)."""
    esc = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
    out, i = [], 0
    while i < len(lit):
        if lit[i] == "\\":
            out.append(esc[lit[i + 1]])
            i += 2
        else:
            out.append(lit[i])
            i += 1
    return "".join(out)


def vocab_regexes(llama_src, pre_type):
    """The regex_exprs that llama-vocab.cpp's llm_tokenizer_bpe sets for `case <pre_type>:`."""
    with open(os.path.join(llama_src, "src", "llama-vocab.cpp"), encoding="utf-8") as f:
        src = f.read()
    at = src.index("case %s:" % pre_type)
    body = src[src.index("regex_exprs = {", at) + len("regex_exprs = {"):]
    body = body[:body.index("};")]
    exprs = []
    for line in body.splitlines():
        line = line.strip()
        if line.startswith('"'):
            exprs.append(c_string(re.match(r'"((?:[^"\\]|\\.)*)"', line).group(1)))
    if not exprs:
        raise ValueError("no expressions for " + pre_type)
    return exprs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama", required=True, help="llama.cpp's source folder, built in build/ (build/bin: llama-tokenize)")
    ap.add_argument("--pretok", required=True, help="tests/tools/llama_cpp_pretok.cpp built against that llama.cpp")
    ap.add_argument("--shared", required=True, help="the shared data folder (vocab/ggml-vocab-gpt-2.gguf)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
    ap.add_argument("--compare", action="store_true")
    a = ap.parse_args()
    llama_bin = os.path.join(a.llama, "build", "bin")
    vocab = os.path.join(a.shared, "vocab")
    with open(os.path.join(vocab, "ggml-vocab-gpt-2.gguf"), "rb") as f:
        base = f.read()
    with open(os.path.join(vocab, "ggml-vocab-gpt-2.gguf.inp"), "r", encoding="utf-8", newline="") as f:
        shared = f.read().split(SEP)
    assert shared[-1] == ""
    strings = shared[:-1] + STRINGS
    pre_types = {"gpt-4o": "LLAMA_VOCAB_PRE_TYPE_GPT4O", "tekken": "LLAMA_VOCAB_PRE_TYPE_TEKKEN"}
    inp = "".join(s + SEP for s in strings)
    ids = {}
    with tempfile.TemporaryDirectory() as tmp:
        models = {}
        for pre in pre_types:
            models[pre] = os.path.join(tmp, pre + ".gguf")
            with open(models[pre], "wb") as f:
                f.write(rewrite_pre(base, pre))
        if a.compare:
            models["gpt-2"] = os.path.join(vocab, "ggml-vocab-gpt-2.gguf")
            models["llama-bpe"] = os.path.join(vocab, "ggml-vocab-gpt2-pre-llama-bpe.gguf")
        for pre, model in models.items():
            ids[pre] = [tokenize(llama_bin, model, s, tmp) for s in strings]
            print("%-9s BOS added to \"Hello\": %s" % (pre, tokenize(llama_bin, model, "Hello", tmp, bos=True)))
        inp_path = os.path.join(tmp, "strings.inp")
        with open(inp_path, "w", encoding="utf-8", newline="") as f:
            f.write(inp)
        splits = {}
        env = dict(os.environ, LD_LIBRARY_PATH=llama_bin)
        for pre, pre_type in pre_types.items():
            splits[pre] = subprocess.run([a.pretok, inp_path] + vocab_regexes(a.llama, pre_type), env=env,
                                         check=True, capture_output=True).stdout.decode()
            assert splits[pre].count("\n") == len(strings)
    for pre in pre_types:
        base_name = os.path.join(a.out, "vocab-" + pre)
        with open(base_name + ".inp", "w", encoding="utf-8", newline="") as f:
            f.write(inp)
        with open(base_name + ".out", "w", encoding="utf-8", newline="") as f:
            f.write("".join(" ".join(str(t) for t in r) + "\n" for r in ids[pre]))
        with open(base_name + ".splits", "w", encoding="utf-8", newline="") as f:
            f.write(splits[pre])
    print("%d strings (%d from ../shared)" % (len(strings), len(shared) - 1))
    if a.compare:
        names = list(ids)
        for i, x in enumerate(names):
            for y in names[i + 1:]:
                d = [k for k in range(len(strings)) if ids[x][k] != ids[y][k]]
                print("%-9s vs %-9s: %3d of %d strings differ" % (x, y, len(d), len(strings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
