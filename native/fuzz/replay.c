/* Replays a harness's inputs without libFuzzer: each argument is an input file or a directory of them (read in name
 * order), and every input goes once through LLVMFuzzerTestOneInput. Linked with each fuzz_*.c into the ctest
 * programs fuzz_replay_NAME (tests/CMakeLists.txt), so the committed seeds and findings (native/fuzz/corpus/NAME)
 * run in every ctest build -- gcc's, the AddressSanitizer + UBSan one, aarch64 under qemu -- where clang's libFuzzer
 * runtime is not installed. A finding aborts, as under libFuzzer; the program names the input first. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return 1;
    }
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return 1; }
    const long n = ftell(f);
    rewind(f);
    uint8_t *data = malloc(n > 0 ? (size_t)n : 1);
    if (!data || (n > 0 && fread(data, 1, (size_t)n, f) != (size_t)n)) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        fclose(f);
        free(data);
        return 1;
    }
    fclose(f);
    fprintf(stderr, "replay: %s (%ld bytes)\n", path, n);
    LLVMFuzzerTestOneInput(data, (size_t)n);
    free(data);
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    int inputs = 0, failed = 0;
    for (int a = 1; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) {
            fprintf(stderr, "replay: no such file or directory: %s\n", argv[a]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= replay_file(argv[a]);
            inputs++;
            continue;
        }
        DIR *d = opendir(argv[a]);
        if (!d) return 1;
        char **names = NULL;
        size_t count = 0, cap = 0;
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            if (count == cap) {
                cap = cap ? 2 * cap : 64;
                char **grown = realloc(names, cap * sizeof *names);
                if (!grown) abort();
                names = grown;
            }
            const size_t len = strlen(argv[a]) + strlen(e->d_name) + 2;
            names[count] = malloc(len);
            if (!names[count]) abort();
            snprintf(names[count++], len, "%s/%s", argv[a], e->d_name);
        }
        closedir(d);
        qsort(names, count, sizeof *names, by_name);
        for (size_t i = 0; i < count; i++) {
            failed |= replay_file(names[i]);
            inputs++;
            free(names[i]);
        }
        free(names);
    }
    if (inputs == 0) {
        fprintf(stderr, "replay: no inputs (usage: %s FILE|DIR...)\n", argv[0]);
        return 1;
    }
    printf("replay: %d inputs, no finding\n", inputs);
    return failed;
}
