/* The smallest useful program on libdocq: index a folder, ask a question,
 * print the answer and its sources.
 *
 *   cc embed_minimal.c $(pkg-config --cflags --libs docq) -o embed_minimal
 *   ./embed_minimal INDEX_DIR FOLDER "question"
 */
#include <stdio.h>
#include <docq.h>

static int fail(const char *what)
{
  fprintf(stderr, "%s: %s\n", what, docq_error_last()->message);
  return 1;
}

int main(int argc, char **argv)
{
  if (argc != 4) {
    fprintf(stderr, "usage: %s INDEX_DIR FOLDER QUESTION\n", argv[0]);
    return 2;
  }
  if (docq_version_number() != DOCQ_VERSION_NUMBER) fprintf(stderr, "warning: header and library versions differ\n");
  docq_db *db;
  if (docq_db_open(&db, argv[1], DOCQ_OPEN_CREATE)) return fail("open");
  const char *paths[] = {argv[2]};
  docq_index_stats st;
  if (docq_index_paths(db, paths, 1, NULL, &st)) { docq_db_free(db); return fail("index"); }
  printf("indexed: %llu added, %llu unchanged\n", (unsigned long long)st.added, (unsigned long long)st.unchanged);
  docq_answer *a;
  if (docq_ask(&a, db, argv[3], NULL)) { docq_db_free(db); return fail("ask"); }
  printf("%s\n", docq_answer_text(a));
  for (size_t i = 0; i < docq_answer_passages(a); i++) {
    const docq_passage *p = docq_answer_passage(a, i);
    printf("  [%d] %s:%u-%u\n", p->label, p->hit->path, p->hit->line_first, p->hit->line_last);
  }
  docq_answer_free(a);
  docq_db_free(db);
  return 0;
}
