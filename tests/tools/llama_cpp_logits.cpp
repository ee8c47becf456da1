// Writes tests/data/stories260K.f32.llama-cpp.txt: stories260K logits from
// llama.cpp with an f32 KV cache and flash attention off (all-f32 arithmetic),
// whole prompt in one batch, 1 thread. Not part of the build; to regenerate,
// build llama.cpp outside the repo and run
//   g++ -O2 llama_cpp_logits.cpp -I$LLAMA/include -I$LLAMA/ggml/include \
//       -L$LLAMA/build/bin -lllama -lggml -lggml-base -Wl,-rpath,$LLAMA/build/bin
//   ./a.out ../shared/models/stories260K.gguf > out.txt
// (the four header lines of the data file are written by hand).
// Other models: ./a.out MODEL "1 5 9 ..." ["1 7 ..."] takes the prompts' token
// ids from the arguments (tests/data/qwen3-random.f32.llama-cpp.txt was made so,
// on a model written by tests/tools/write_model.c).
// With --fa as the first argument: an f16 KV cache and flash attention, as
// llama.cpp runs by default (tests/data/phi3-*.f16-fa.llama-cpp.txt), the
// rounding docq's parity mode (DQ_KV_F16_GGML) follows.
// Why this reference exists next to ../shared's: that one was made with flash
// attention, whose f16 query and f16 accumulator make llama.cpp's own batched and
// token-by-token logits differ by 1.9e-3; all-f32 logits are well conditioned,
// so they test the engine's arithmetic at 1e-4 and below.
#include "llama.h"
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
int main(int argc, char **argv) {
  const bool fa = argc > 1 && std::string(argv[1]) == "--fa";
  if (fa) { argv++; argc--; }
  llama_backend_init();
  llama_model *m = llama_model_load_from_file(argv[1], llama_model_default_params());
  std::vector<std::vector<llama_token>> P = {
    {1,403,407,261,378,432,383,286,261,376,298,315,421,395,317,426},
    {1,274,287,269,301,425,411,263,377,267,265,282,295,433,426,342,394,261,370,400,428,426}};
  if (argc > 2) {
    P.clear();
    for (int a = 2; a < argc; a++) {
      std::vector<llama_token> t;
      for (char *p = argv[a], *e; ; p = e) {
        long v = strtol(p, &e, 10);
        if (e == p) break;
        t.push_back((llama_token)v);
      }
      P.push_back(t);
    }
  }
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(m));
  for (auto &t : P) {
    auto cp = llama_context_default_params();
    cp.n_ctx = 512; cp.n_batch = 512; cp.n_ubatch = 512; cp.n_threads = 1; cp.n_threads_batch = 1;
    cp.flash_attn_type = fa ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = cp.type_v = fa ? GGML_TYPE_F16 : GGML_TYPE_F32;
    llama_context *c = llama_init_from_model(m, cp);
    int n = t.size();
    llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) { b.token[i]=t[i]; b.pos[i]=i; b.n_seq_id[i]=1; b.seq_id[i][0]=0; b.logits[i]=1; }
    b.n_tokens = n;
    if (llama_decode(c, b)) return 1;
    printf("tokens %d:", n); for (int i = 0; i < n; i++) printf(" %d", t[i]); printf("\n");
    for (int i = 0; i < n; i++) {
      float *l = llama_get_logits_ith(c, i); int am = 0;
      for (int j = 1; j < n_vocab; j++) if (l[j] > l[am]) am = j;
      printf("pos %d argmax %d logits[0..15]:", i, am); for (int j = 0; j < 16; j++) printf(" %.6f", l[j]); printf("\n");
    }
    llama_batch_free(b); llama_free(c);
  }
  return 0;
}
