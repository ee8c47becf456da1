// Prints llama.cpp's pre-tokenizer pieces for tests/data/vocab-*.splits: for
// each string of an .inp file (strings each followed by "\n__ggml_vocab_test__\n"),
// one line with the byte lengths of the pieces that llama.cpp's
// unicode_regex_split (src/unicode.cpp, exported by libllama though not part of
// its public API) cuts the string into with the given expressions, as
// llm_tokenizer_bpe passes them. Not part of the build; run by
// tests/tools/vocab_pre_vectors.py, which takes the expressions from llama.cpp's
// src/llama-vocab.cpp. To build, against a llama.cpp build outside the repo:
//   g++ -O2 -std=c++17 llama_cpp_pretok.cpp -o llama_cpp_pretok
//       -L$LLAMA/build/bin -lllama -Wl,-rpath,$LLAMA/build/bin   (one command)
//   ./llama_cpp_pretok strings.inp REGEX [REGEX...] > strings.splits
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

std::vector<std::string> unicode_regex_split(const std::string &text, const std::vector<std::string> &regex_exprs,
                                             bool byte_encode);

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s strings.inp REGEX [REGEX...]\n", argv[0]);
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string all = ss.str(), sep = "\n__ggml_vocab_test__\n";
  const std::vector<std::string> exprs(argv + 2, argv + argc);
  for (size_t p = 0;;) {
    const size_t e = all.find(sep, p);
    if (e == std::string::npos) break;
    const std::string text = all.substr(p, e - p);
    // byte_encode = false: the pieces are the input's own bytes
    const std::vector<std::string> pieces = unicode_regex_split(text, exprs, false);
    size_t total = 0;
    for (size_t i = 0; i < pieces.size(); i++) {
      printf(i ? " %zu" : "%zu", pieces[i].size());
      total += pieces[i].size();
    }
    printf("\n");
    if (total != text.size()) {
      fprintf(stderr, "pieces of string at byte %zu do not add up to it\n", p);
      return 1;
    }
    p = e + sep.size();
  }
  return 0;
}
