/* Runs a libFuzzer-style target without libFuzzer: every file named on the
 * command line, or found (non-recursively, sorted) in a folder named there,
 * is passed once to LLVMFuzzerTestOneInput. LLVMFuzzerInitialize is called
 * first when the target defines it (weak reference). A missing or empty
 * folder is not an error: the corpus may not be checked out (note printed). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int run_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "standalone: cannot open %s\n", path); return 1; }
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (!buf) { fclose(f); fprintf(stderr, "standalone: out of memory\n"); return 1; }
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    cap *= 2;
    uint8_t *nb = realloc(buf, cap);
    if (!nb) free(buf);
    buf = nb;
  }
  fclose(f);
  /* an exact-size copy so that reads past the input trip AddressSanitizer */
  uint8_t *exact = malloc(n ? n : 1);
  if (!exact) { free(buf); return 1; }
  memcpy(exact, buf, n);
  free(buf);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
  int ran = 0, bad = 0;
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) { fprintf(stderr, "standalone: %s does not exist (nothing to run)\n", argv[i]); continue; }
    if (!S_ISDIR(st.st_mode)) { bad |= run_file(argv[i]); ran++; continue; }
    DIR *d = opendir(argv[i]);
    if (!d) { fprintf(stderr, "standalone: cannot open %s\n", argv[i]); bad = 1; continue; }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
      if (de->d_name[0] == '.') continue;
      if (n == cap) {
        cap = cap ? cap * 2 : 64;
        char **p = realloc(names, cap * sizeof *p);
        if (!p) break;
        names = p;
      }
      size_t len = strlen(argv[i]) + strlen(de->d_name) + 2;
      if (!(names[n] = malloc(len))) break;
      snprintf(names[n], len, "%s/%s", argv[i], de->d_name);
      n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    for (size_t k = 0; k < n; k++) {
      if (stat(names[k], &st) == 0 && S_ISREG(st.st_mode)) { bad |= run_file(names[k]); ran++; }
      free(names[k]);
    }
    free(names);
  }
  if (!ran) fprintf(stderr, "standalone: no inputs found (empty or missing corpus)\n");
  else fprintf(stderr, "standalone: %d inputs ran\n", ran);
  return bad;
}
